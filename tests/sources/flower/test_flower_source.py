"""flower_source against recorded Flower 2.2 responses, served over real HTTP (pytest-httpserver).

Bodies come from tests/recordings/flower (recorded from a real Flower 2.2 stack). /api/tasks pages are cut from the
recorded task objects the way Flower cuts them: newest last event first, then limit/offset.
"""

import base64
import copy
import json
import logging
import re
import socket
import time
from datetime import UTC, datetime

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from werkzeug import Request, Response

from orchestration.warehouse.engine import make_pipeline
from sources.flower import (
    FlowerAuthError,
    FlowerConfigError,
    FlowerUnreachableError,
    flower_source,
)
from tests.fixtures.recorded_flower import (
    FAILED_UUID,
    NEWEST_UUID,
    PASSWORD,
    TOKEN,
    USERNAME,
    RecordedFlower,
    load,
    load_fails,
    received_every,
    recorded,
    respond,
    walk_state,
)
from tests.fixtures.warehouse_reads import column_types, flower_tables, rows, warehouse


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# --- loading every task -----------------------------------------------------------------------------------


PROBE = "sort_by=received&limit=50&offset=0"  # tasks without a received time, asked for first


def received_pages(page_size: int, *offsets: int) -> list[str]:
    return [f"sort_by=-received&limit={page_size}&offset={offset}" for offset in offsets]


def test_recorded_pages_are_cut_like_real_flower(flower):
    """Guards the stand-in: its pages equal what real Flower answered for the same requests."""
    for sort_by, recordings in {
        None: ["api_tasks_limit5", "api_tasks_limit5_offset5"],
        "-received": ["api_tasks_sort_-received", "api_tasks_sort_-received_offset5"],
    }.items():
        real = [uuid for name in recordings for uuid in recorded(name)["body"]]
        assert real == [task["uuid"] for task in flower.ordered_tasks(sort_by)][:10]


def test_first_load_lands_every_task_once_in_overlapping_pages(flower):
    load(flower, page_size=5)

    # each page starts one task before the end of the last, to notice a list that shifted under us
    assert flower.requests_to("/api/tasks") == [PROBE, *received_pages(5, 0, 4, 8)]
    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(12, 12)]
    assert rows("select state, count(*) from flower.tasks group by state order by state") == [
        ("FAILURE", 6),
        ("SUCCESS", 6),
    ]


def test_a_page_exactly_full_is_followed_by_one_more_request(flower):
    load(flower, page_size=6)

    assert flower.requests_to("/api/tasks") == [PROBE, *received_pages(6, 0, 5, 10)]
    assert rows("select count(*) from flower.tasks") == [(12,)]


def test_task_fields_are_typed_and_kept(flower):
    load(flower)
    task = flower.tasks[NEWEST_UUID]

    [row] = rows(
        "select name, state, received, started, succeeded, retried, timestamp, eta, runtime, retries, worker,"
        " args, kwargs, result, exception, clock, root_id, parent_id, children"
        f" from flower.tasks where uuid = '{NEWEST_UUID}'"
    )
    assert row == (
        "tasks.flaky",
        "SUCCESS",
        at(task["received"]),
        at(task["started"]),
        at(task["succeeded"]),
        at(task["retried"]),
        at(task["timestamp"]),
        datetime(2026, 11, 22, 2, 50, 56, 847635, tzinfo=UTC),
        task["runtime"],
        2,
        "w1@node1",
        "(999,)",
        "{'succeed': True}",
        "{'n': 999, 'attempts': 3}",
        "RuntimeError('flaky attempt 1 of n=999')",
        1346,
        NEWEST_UUID,
        NEWEST_UUID,
        json.dumps([NEWEST_UUID]),
    )
    [(exception, traceback, result, runtime)] = rows(
        f"select exception, traceback, result, runtime from flower.tasks where uuid = '{FAILED_UUID}'"
    )
    assert (exception, result, runtime) == ("ValueError('flaky gave up n=297')", None, None)
    assert traceback == flower.tasks[FAILED_UUID]["traceback"]


def test_column_types_are_fixed_even_when_every_value_is_null(flower):
    """In the recording sent, rejected, revoked, expires, exchange, routing_key and client are all null."""
    load(flower)

    types = column_types("tasks")
    for column in ("received", "sent", "started", "succeeded", "failed", "retried", "revoked", "rejected"):
        assert types[column] == "TIMESTAMP WITH TIME ZONE", column
    assert types["timestamp"] == types["eta"] == types["expires"] == "TIMESTAMP WITH TIME ZONE"
    assert types["exchange"] == types["routing_key"] == types["client"] == "VARCHAR"
    assert (types["runtime"], types["retries"], types["clock"], types["children"]) == (
        "DOUBLE",
        "BIGINT",
        "BIGINT",
        "JSON",
    )
    assert rows("select count(*) from flower.tasks where sent is null and expires is null") == [(12,)]


def test_odd_tasks_load_as_given(flower):
    """Null times, unicode, a 1 MB traceback, a state Celery does not define, a field Flower may add later."""
    huge_traceback = "Traceback (most recent call last):\n" + "  File 'x.py', line 1\n" * 50_000
    flower.add_task(
        "odd-1",
        None,
        timestamp=1795315900.0,
        name="etl.日本語_📦",
        state="SOMETHING_NEW",
        started=None,
        succeeded=None,
        retried=None,
        eta=None,
        exception="ValueError('naïve café — ☕ \"quoted\" (paren)')",
        traceback=huge_traceback,
        priority_hint=7,  # an unknown field: kept, as text
    )
    load(flower)

    [row] = rows(
        "select name, state, received, started, eta, exception, length(traceback), priority_hint"
        " from flower.tasks where uuid = 'odd-1'"
    )
    assert row == (
        "etl.日本語_📦",
        "SOMETHING_NEW",
        None,
        None,
        None,
        "ValueError('naïve café — ☕ \"quoted\" (paren)')",
        len(huge_traceback),
        "7",
    )
    assert rows("select count(*) from flower.tasks where priority_hint is null") == [(12,)]


def test_include_payloads_false_leaves_args_kwargs_and_result_out(flower):
    load(flower, include_payloads=False)

    assert not {"args", "kwargs", "result"} & set(column_types("tasks"))
    assert rows("select count(*) from flower.tasks") == [(12,)]
    assert b"{'succeed': True}" not in warehouse().read_bytes()


# --- values Flower should not send, but might ---------------------------------------------------------------


def test_values_of_the_wrong_kind_load_replaced_and_say_which_task_and_field(flower, caplog):
    now = time.time()
    flower.add_task("bad-kinds", now, timestamp="yesterday", runtime="fast", retries=1.5)
    flower.add_task("no-timestamp", now, timestamp=None)
    flower.add_task("far-future", now, timestamp=now + 10 * 365 * 86400)
    flower.add_task(
        "surrogates",
        now,
        worker="wörker-ü@höst",
        args="('caf\udce9.csv',)",  # what surrogateescape makes of a Latin-1 file name
        traceback="OSError: 'caf\udce9.csv'",
        exception="OSError('caf\udce9.csv')",
        children=["child-\ud800"],
        note_from_a_newer_flower="x\ud800y",
    )
    with caplog.at_level(logging.WARNING, logger="sources.flower"):
        pipeline = load(flower, include_payloads=True)

    assert rows(
        "select uuid, timestamp, runtime, retries from flower.tasks"
        " where uuid in ('bad-kinds', 'no-timestamp') order by uuid"
    ) == [("bad-kinds", None, None, None), ("no-timestamp", None, flower.template["runtime"], 0)]
    assert rows("select timestamp from flower.tasks where uuid = 'far-future'") == [
        (at(now + 10 * 365 * 86400),)
    ]
    assert rows(
        "select worker, args, traceback, exception, children, note_from_a_newer_flower"
        " from flower.tasks where uuid = 'surrogates'"
    ) == [
        (
            "wörker-ü@höst",
            "('caf\ufffd.csv',)",
            "OSError: 'caf\ufffd.csv'",
            "OSError('caf\ufffd.csv')",
            json.dumps(["child-\ufffd"], ensure_ascii=False),
            "x\ufffdy",
        )
    ]
    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(16, 16)]
    for line in (
        "task bad-kinds field timestamp: 'yesterday' is not an epoch time, loaded as null",
        "task bad-kinds field runtime: 'fast' is not a number, loaded as null",
        "task bad-kinds field retries: 1.5 is not a number, loaded as null",
        "task surrogates field args: characters UTF-8 cannot encode replaced with U+FFFD",
        "task surrogates field traceback: characters UTF-8 cannot encode replaced with U+FFFD",
        "task surrogates field note_from_a_newer_flower: characters UTF-8 cannot encode replaced with U+FFFD",
    ):
        assert line in caplog.text
    report = walk_state(pipeline)["last_walk"]
    assert report["replaced_values"] == 8  # 3 wrong kinds, 5 fields with surrogates
    assert (
        "task bad-kinds field timestamp: 'yesterday' is not an epoch time, loaded as null"
        in report["replaced_samples"]
    )

    # the next load is not blocked by any of them
    flower.add_task("after", time.time())
    load(flower)
    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(17, 17)]


# --- incremental ------------------------------------------------------------------------------------------


def test_incremental_run_reads_tasks_received_since_the_last_walk_began_minus_the_window(flower):
    now = received_every(flower, 25, every_s=60)
    started = time.time()
    pipeline = load(flower, page_size=5, lookback_minutes=10)
    assert flower.requests_to("/api/tasks") == [PROBE, *received_pages(5, 0, 4, 8, 12, 16, 20, 24)]
    assert started <= walk_state(pipeline)["walked_from"] <= time.time()  # the loader's clock, not Flower's
    flower.server.clear_log()

    flower.add_task("new-1", now + 5, state="STARTED")
    flower.add_task("new-2", now + 6, state="FAILURE")
    flower.tasks["task-020"] |= {
        "state": "STARTED",
        "received": now + 7,
        "retries": 1,
    }  # retried: received again
    pipeline = load(flower, page_size=5, lookback_minutes=10)

    # Order now: task-020, new-2, new-1, task-000 .. task-019, task-021 ..; the line is the first walk's start
    # minus 600 s, so task-009 (540 s old, position 12) is above it and task-010 (600 s) below: the page at
    # offset 12 ends the walk.
    assert flower.requests_to("/api/tasks") == [PROBE, *received_pages(5, 0, 4, 8, 12)]
    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(27, 27)]
    assert rows(
        "select uuid, state, retries from flower.tasks where uuid in ('new-1', 'new-2', 'task-020') order by 1"
    ) == [("new-1", "STARTED", 0), ("new-2", "FAILURE", 0), ("task-020", "STARTED", 1)]
    assert walk_state(pipeline)["in_flight"] == {"new-1": "STARTED", "task-020": "STARTED"}


def test_rejected_and_ignored_tasks_are_final_and_custom_states_in_flight(flower):
    """REJECTED and IGNORED get no later event: a walk stops looking at them. A custom state (PROGRESS, what
    a task reporting progress shows) is not final: the next walk asks for it again."""
    received_every(flower, 2, every_s=60)
    now = time.time()
    for uuid, state in (("rejected", "REJECTED"), ("ignored", "IGNORED"), ("progress", "PROGRESS")):
        flower.add_task(uuid, now - 1, state=state)

    pipeline = load(flower, page_size=5, lookback_minutes=10)

    assert walk_state(pipeline)["in_flight"] == {"progress": "PROGRESS"}
    assert rows(
        "select uuid, state from flower.tasks where uuid in ('rejected', 'ignored', 'progress') order by uuid"
    ) == [("ignored", "IGNORED"), ("progress", "PROGRESS"), ("rejected", "REJECTED")]


def test_tasks_read_again_in_the_look_back_load_only_when_they_changed(flower):
    """The look-back re-reads every task received within it (at 100 tasks/s, all of a 5,000-task Flower each
    run): those the warehouse already holds as they are now are left out of the load and of every model."""
    now = received_every(flower, 12, every_s=60)
    load(flower, page_size=5, lookback_minutes=30)
    first_load = dict(rows("select uuid, _dlt_load_id from flower.tasks"))
    flower.tasks["task-004"] |= {"state": "FAILURE", "timestamp": now + 1}  # an event since the first load
    flower.tasks["task-007"] |= {"state": "REVOKED"}  # a state change whatever its time says
    flower.add_task("new-1", now + 2)

    pipeline = load(flower, page_size=5, lookback_minutes=30)

    reloaded = {
        uuid
        for uuid, load_id in rows("select uuid, _dlt_load_id from flower.tasks")
        if load_id != first_load.get(uuid)
    }
    assert reloaded == {"task-004", "task-007", "new-1"}
    assert walk_state(pipeline)["last_walk"]["tasks_read"] == 13
    assert walk_state(pipeline)["last_walk"]["unchanged_left_out"] == 10
    assert rows("select state from flower.tasks where uuid in ('task-004', 'task-007') order by uuid") == [
        ("FAILURE",),
        ("REVOKED",),
    ]


def test_run_with_nothing_new_makes_two_task_requests(flower):
    received_every(flower, 12, every_s=60)
    load(flower, page_size=5, lookback_minutes=0.5)
    flower.server.clear_log()

    load(flower, page_size=5, lookback_minutes=0.5)

    assert flower.requests_to("/api/tasks") == [PROBE, *received_pages(5, 0)]
    assert rows("select count(*) from flower.tasks") == [(12,)]


def test_tasks_without_a_received_time_are_read_first_and_every_run(flower):
    """Sent but not picked up yet, or first seen at their end because Flower restarted while they ran."""
    received_every(flower, 3, every_s=3600)
    flower.add_task("queued", None, state="PENDING", sent=time.time() - 5000, timestamp=time.time() - 5000)
    flower.add_task("seen-at-its-end", None, state="SUCCESS", succeeded=time.time() - 4000)
    load(flower, page_size=5, lookback_minutes=10)
    flower.tasks["queued"] |= {"state": "REVOKED", "revoked": time.time()}
    flower.server.clear_log()

    load(flower, page_size=5, lookback_minutes=10)

    assert flower.requests_to("/api/tasks")[0] == PROBE
    assert rows("select uuid, state from flower.tasks where received is null order by uuid") == [
        ("queued", "REVOKED"),
        ("seen-at-its-end", "SUCCESS"),
    ]
    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(5, 5)]


def test_tasks_in_flight_before_the_line_are_asked_for_one_by_one(flower, caplog):
    received_every(flower, 3, every_s=60)
    hour_ago = time.time() - 3600
    flower.add_task("long-run", hour_ago, state="STARTED", started=hour_ago + 1)
    flower.add_task("eta", hour_ago, state="RECEIVED", eta="2026-12-31T00:00:00+00:00")
    pipeline = load(flower, page_size=5, lookback_minutes=10)
    assert walk_state(pipeline)["in_flight"] == {"eta": "RECEIVED", "long-run": "STARTED"}
    flower.tasks["long-run"] |= {"state": "SUCCESS", "succeeded": time.time(), "timestamp": time.time()}
    flower.server.clear_log()

    pipeline = load(flower, page_size=5, lookback_minutes=10)

    assert flower.requests_to("/api/tasks") == [PROBE, *received_pages(5, 0)]
    assert sorted(request.path for request, _ in flower.server.log if "/info/" in request.path) == [
        "/api/task/info/eta",
        "/api/task/info/long-run",
    ]
    assert rows("select uuid, state from flower.tasks where uuid in ('eta', 'long-run') order by 1") == [
        ("eta", "RECEIVED"),
        ("long-run", "SUCCESS"),
    ]
    assert walk_state(pipeline)["in_flight"] == {"eta": "RECEIVED"}

    flower.forgotten.add("eta")  # evicted, or Flower restarted
    with caplog.at_level(logging.WARNING, logger="sources.flower"):
        pipeline = load(flower, page_size=5, lookback_minutes=10)
    assert (
        "Flower no longer holds task eta (evicted or Flower restarted) while it was RECEIVED" in caplog.text
    )
    assert walk_state(pipeline)["in_flight"] == {}
    assert walk_state(pipeline)["last_walk"]["forgotten_in_flight"] == ["eta"]
    assert rows("select state from flower.tasks where uuid = 'eta'") == [("RECEIVED",)]


def test_many_in_flight_tasks_are_found_through_started_and_their_states(flower):
    """An ETA backlog: 30 tasks received an hour ago, then 10 run and finish, 5 start, 15 still wait.
    A recent task read twice in the run (STARTED, then SUCCESS) lands once, in its newest version."""
    flower.tasks.clear()
    hour_ago = time.time() - 3600
    for index in range(30):
        flower.add_task(f"eta-{index:02d}", hour_ago + index, state="RECEIVED")
    load(flower, page_size=10, lookback_minutes=10)
    now = time.time()
    for index in range(10):
        flower.tasks[f"eta-{index:02d}"] |= {
            "state": "SUCCESS",
            "started": now - 30 + index,
            "timestamp": now,
        }
    for index in range(10, 15):
        flower.tasks[f"eta-{index:02d}"] |= {
            "state": "STARTED",
            "started": now - 10 + index,
            "timestamp": now,
        }
    flower.add_task("recent", now - 5, state="STARTED", started=now - 4, succeeded=None)

    def finish_recent_before_the_started_walk(request: Request) -> None:
        if request.args.get("sort_by") == "-started":
            flower.tasks["recent"] |= {"state": "SUCCESS", "succeeded": time.time(), "timestamp": time.time()}
            flower.before_page = None

    flower.before_page = finish_recent_before_the_started_walk
    flower.server.clear_log()

    pipeline = load(flower, page_size=10, lookback_minutes=10)

    assert flower.requests_to("/api/tasks") == [
        PROBE,
        "sort_by=-received&limit=10&offset=0",
        "sort_by=-started&limit=10&offset=0",
        "sort_by=-started&limit=10&offset=9",
        "state=RECEIVED&limit=10&offset=0",
        "state=RECEIVED&limit=10&offset=9",
    ]
    assert not [request for request, _ in flower.server.log if "/info/" in request.path]
    assert rows("select state, count(*) from flower.tasks group by state order by state") == [
        ("RECEIVED", 15),
        ("STARTED", 5),
        ("SUCCESS", 11),
    ]
    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(31, 31)]
    assert len(walk_state(pipeline)["in_flight"]) == 20


def test_a_clock_running_ahead_never_moves_the_line(flower):
    """A worker two hours ahead: its tasks load (and are read again while in the future); the others too."""
    now = received_every(flower, 3, every_s=60)
    flower.add_task("ahead", now + 7200, worker="w2@skewed")
    before = time.time()
    pipeline = load(flower, page_size=5, lookback_minutes=1)
    assert before <= walk_state(pipeline)["walked_from"] <= time.time()
    flower.add_task("on-time", time.time(), worker="w1@node1")
    flower.server.clear_log()

    load(flower, page_size=5, lookback_minutes=1)

    assert rows("select uuid from flower.tasks where uuid in ('ahead', 'on-time') order by 1") == [
        ("ahead",),
        ("on-time",),
    ]
    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(5, 5)]


def test_the_order_flower_lists_by_default_is_never_relied_on(flower):
    """Flower 2.0 lists by Lamport clock: a restarted worker's new tasks come last. The walk never asks for
    the default order, so it cannot matter."""
    flower.default_order = "2.0"
    now = received_every(flower, 8, every_s=60)
    load(flower, page_size=3, lookback_minutes=1)
    for index in range(3):
        flower.add_task(f"after-restart-{index}", time.time(), clock=index + 1)
    assert [task["uuid"] for task in flower.ordered_tasks()][-3:] == [f"after-restart-{i}" for i in (2, 1, 0)]

    load(flower, page_size=3, lookback_minutes=1)

    assert all("sort_by=" in query for query in flower.requests_to("/api/tasks"))
    assert rows("select count(*) from flower.tasks where uuid like 'after-restart-%'") == [(3,)]
    assert now > 0


def test_tasks_dropped_from_the_list_while_paging_are_read_back_not_skipped(flower, caplog):
    """max_tasks eviction while we page: rows shift up under us; the overlap shows it and we read back."""
    received_every(flower, 20, every_s=60)

    def evict_before_third_page(request: Request) -> None:
        if request.args.get("offset") == "8" and request.args.get("sort_by") == "-received":
            for uuid in ("task-000", "task-001", "task-002"):  # already read, now evicted
                del flower.tasks[uuid]
            flower.before_page = None

    flower.before_page = evict_before_third_page
    with caplog.at_level(logging.WARNING, logger="sources.flower"):
        pipeline = load(flower, page_size=5)

    assert flower.requests_to("/api/tasks") == [PROBE, *received_pages(5, 0, 4, 8, 3, 7, 11, 15)]
    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(20, 20)]
    assert walk_state(pipeline)["last_walk"]["read_back"] == 1
    assert "Flower's task list shifted while it was paged" in caplog.text


def test_tasks_arriving_while_paging_shift_the_list_down_and_nothing_is_read_twice_or_skipped(flower):
    received_every(flower, 12, every_s=60)

    def arrive_before_second_page(request: Request) -> None:
        if request.args.get("offset") == "4":
            flower.add_task("arrived-1", time.time())
            flower.add_task("arrived-2", time.time())
            flower.before_page = None

    flower.before_page = arrive_before_second_page
    load(flower, page_size=5)
    assert rows("select count(*), count(distinct uuid) from flower.tasks where uuid like 'task-%'") == [
        (12, 12)
    ]

    load(flower, page_size=5)  # they arrived after the walk passed the top: the next run has them

    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(14, 14)]


def test_failed_page_loads_nothing_and_keeps_the_state(flower, fast_retries):
    received_every(flower, 12, every_s=60)
    pipeline = load(flower, page_size=5)
    before = rows("select uuid, state, timestamp, _dlt_load_id from flower.tasks order by uuid")
    state = copy.deepcopy(walk_state(pipeline))
    flower.add_task("late-1", time.time(), state="SUCCESS")
    flower.answer_at[("-received", 4)] = Response("boom", status=502)

    error = load_fails(flower, page_size=5)

    assert "HTTP 502 after 2 attempt(s) for GET /api/tasks?sort_by=-received&limit=5&offset=4" in str(error)
    assert rows("select uuid, state, timestamp, _dlt_load_id from flower.tasks order by uuid") == before
    assert rows("select count(*) from flower.workers") == [(1,)]
    assert walk_state(make_pipeline("flower")) == state

    flower.answer_at.clear()
    load(flower, page_size=5)
    assert rows("select count(*) from flower.tasks") == [(13,)]


def test_workers_are_snapshotted_before_the_tasks_walk(flower):
    load(flower)

    paths = [request.path for request, _ in flower.server.log]
    assert paths.index("/api/workers") < paths.index("/api/tasks")


# --- snapshots --------------------------------------------------------------------------------------------


def test_workers_are_one_row_per_worker_per_snapshot(flower, httpserver):
    load(flower)

    [row] = rows(
        "select worker, is_online, heartbeat_at, pid, uptime_s, pool_implementation, pool_max_concurrency,"
        " pool_processes, prefetch_count, processed_total, processed_by_task, queues, registered_tasks,"
        " active_tasks, reserved_tasks, scheduled_tasks, cpu_user_s, cpu_system_s, max_rss_kb,"
        " broker_transport from flower.workers"
    )
    row = (*row[:10], json.loads(row[10]), *row[11:])
    assert row == (
        "w1@node1",
        True,
        at(1795315879.7148604),
        6181,
        82,
        "celery.concurrency.prefork:TaskPool",
        2,
        2,
        8,
        423,
        {"tasks.add": 120, "tasks.fail": 60, "tasks.flaky": 183, "tasks.sleep": 60},
        "celery,q2",
        "tasks.add,tasks.fail,tasks.flaky,tasks.noop,tasks.sleep",
        1,  # active: the load, from the per-worker inspect
        0,
        0,
        2.643805,
        0.635506,
        61556,
        "redis",
    )
    assert b"broker_url" not in warehouse().read_bytes()  # the worker's conf is not loaded

    # a second worker that Flower only knows from events, now offline
    httpserver.expect_oneshot_request("/api/workers", query_string="status=1").respond_with_json(
        {"w1@node1": True, "w2@gone": False}
    )
    load(flower)

    assert rows("select count(distinct snapshot_at), count(*) from flower.workers") == [(2, 3)]
    assert rows("select is_online, pid, queues from flower.workers where worker = 'w2@gone'") == [
        (False, None, None)
    ]


def test_task_types_merge_on_name(flower):
    load(flower)
    [(first_seen,)] = rows("select max(last_seen_at) from flower.task_types")
    load(flower)

    assert [seen > first_seen for (seen,) in rows("select last_seen_at from flower.task_types")] == [True] * 4

    assert rows("select name from flower.task_types order by name") == [
        ("tasks.add",),
        ("tasks.fail",),
        ("tasks.flaky",),
        ("tasks.sleep",),
    ]


def test_queue_lengths_are_appended_snapshots(flower):
    load(flower)
    load(flower)

    assert rows("select queue, messages, count(*) from flower.queues_length group by all order by queue") == [
        ("celery", 0, 2),
        ("q2", 0, 2),
    ]


def test_broker_without_queue_lengths_is_a_warning_not_a_failure(flower, httpserver, caplog):
    httpserver.expect_oneshot_request("/api/queues/length").respond_with_response(
        Response("Not Found", status=404, content_type="text/plain")
    )
    with caplog.at_level(logging.WARNING, logger="sources.flower"):
        load(flower)

    assert "no queue lengths (HTTP 404 for /api/queues/length" in caplog.text
    assert "queues_length" not in flower_tables()
    assert rows("select count(*) from flower.tasks") == [(12,)]


# --- task_info (opt-in) -----------------------------------------------------------------------------------


def test_task_info_is_off_by_default(flower):
    load(flower)

    assert "task_info" not in flower_tables()
    assert not [request for request, _ in flower.server.log if request.path.startswith("/api/task/info/")]


def test_task_info_fetches_each_task_and_skips_forgotten_ones(flower, caplog):
    flower.forgotten.add(FAILED_UUID)  # evicted between the list and the info call
    with caplog.at_level(logging.WARNING, logger="sources.flower"):
        load(flower, with_task_info=True, page_size=5)

    assert rows("select count(*) from flower.task_info") == [(11,)]
    assert column_types("task_info") == column_types("tasks")
    assert f"Flower no longer knows task {FAILED_UUID}" in caplog.text
    assert rows(
        "select count(*) from flower.task_info i join flower.tasks t using (uuid)"
        " where i.state = t.state and i.timestamp = t.timestamp and i.args = t.args"
    ) == [(11,)]


# --- auth and configuration -------------------------------------------------------------------------------


def authorization_headers(flower: RecordedFlower) -> set[str]:
    return {request.headers.get("Authorization") for request, _ in flower.server.log}


def test_basic_auth_by_default(flower):
    load(flower)

    assert authorization_headers(flower) == {
        "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    }


def test_bearer_token_replaces_basic_auth_when_set(flower):
    load(flower, token=TOKEN)

    assert authorization_headers(flower) == {f"Bearer {TOKEN}"}


def test_settings_resolve_from_the_documented_environment_variables(flower, monkeypatch):
    received_every(flower, 12, every_s=10)
    settings = {
        "BASE_URL": flower.base_url,
        "USERNAME": "env-user",
        "PASSWORD": "env-password",
        "PAGE_SIZE": "4",
        "LOOKBACK_MINUTES": "0.5",
        "INCLUDE_PAYLOADS": "false",
        "WITH_TASK_INFO": "true",
        "REQUEST_TIMEOUT": "7",
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"SOURCES__FLOWER__{name}", value)

    source = flower_source()
    make_pipeline("flower").run(source)

    assert flower.requests_to("/api/tasks") == [
        "sort_by=received&limit=50&offset=0",
        *received_pages(4, 0, 3, 6, 9),
    ]
    assert authorization_headers(flower) == {"Basic " + base64.b64encode(b"env-user:env-password").decode()}
    assert "args" not in column_types("tasks")
    assert rows("select count(*) from flower.task_info") == [(12,)]

    flower.server.clear_log()
    monkeypatch.setenv("SOURCES__FLOWER__TOKEN", TOKEN)
    make_pipeline("flower").run(flower_source())
    assert authorization_headers(flower) == {f"Bearer {TOKEN}"}
    # LOOKBACK_MINUTES=0.5 took effect: the tasks were received 10 s apart, so the first page already reaches
    # below the 30 s window (with the default 10 minutes all four pages would be read again)
    assert flower.requests_to("/api/tasks") == ["sort_by=received&limit=50&offset=0", *received_pages(4, 0)]


def test_request_timeout_setting_bounds_a_hanging_flower(flower, fast_retries, monkeypatch):
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    flower.server.expect_oneshot_request("/api/tasks").respond_with_handler(slow)
    monkeypatch.setenv("SOURCES__FLOWER__REQUEST_TIMEOUT", "0.3")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")

    with pytest.raises(
        PipelineStepFailed,
        match=re.escape(
            f"Flower at {flower.base_url} did not answer GET /api/tasks?sort_by=received&limit=50&offset=0 "
            "within 0.3 s (SOURCES__FLOWER__REQUEST_TIMEOUT), 1 attempt(s) (RUNTIME__REQUEST_MAX_ATTEMPTS): "
            "ReadTimeout. Raise SOURCES__FLOWER__REQUEST_TIMEOUT for a slow Flower"
        ),
    ):
        make_pipeline("flower").run(
            flower_source(base_url=flower.base_url, username=USERNAME, password=PASSWORD)
        )
    # let the abandoned request end (and be logged) here, not in the next test's server log
    deadline = time.monotonic() + 5
    while not flower.requests_to("/api/tasks") and time.monotonic() < deadline:
        time.sleep(0.05)


def test_source_is_created_without_secrets_and_fails_clearly_at_the_first_request(flower, monkeypatch):
    for name in ("USERNAME", "PASSWORD", "TOKEN"):
        monkeypatch.delenv(f"SOURCES__FLOWER__{name}", raising=False)
    source = flower_source(base_url=flower.base_url)  # no secrets yet: creating the source must work

    with pytest.raises(PipelineStepFailed) as failure:
        make_pipeline("flower").run(source)

    assert isinstance(failure.value.__cause__.__cause__, FlowerConfigError)
    assert "Flower credentials are not configured" in str(failure.value)
    assert "set SOURCES__FLOWER__USERNAME/SOURCES__FLOWER__PASSWORD" in str(failure.value)
    assert "SOURCES__FLOWER__TOKEN" in str(failure.value)
    assert flower.server.log == []
    assert flower_tables() == set()


# --- errors -----------------------------------------------------------------------------------------------


def serve_on_every_endpoint(flower: RecordedFlower, recording: str) -> None:
    flower.server.clear_all_handlers()
    flower.server.expect_request(re.compile("/api/.*")).respond_with_response(respond(recording))


def test_wrong_password_names_flower_http_401_and_the_settings_without_the_secret(flower):
    serve_on_every_endpoint(flower, "auth_wrong_password")

    error = load_fails(flower)

    assert isinstance(error, FlowerAuthError)
    assert re.fullmatch(
        re.escape(f"Flower at {flower.base_url} rejected the credentials (HTTP 401) for ")
        + r"/api/\S+: check SOURCES__FLOWER__USERNAME/SOURCES__FLOWER__PASSWORD",
        str(error),
    )
    assert PASSWORD not in str(error) and base64.b64encode(PASSWORD.encode()).decode() not in str(error)
    assert flower_tables() == set()


def test_rejected_token_points_at_the_token_setting(flower):
    serve_on_every_endpoint(flower, "auth_bearer")

    error = load_fails(flower, token=TOKEN)

    assert str(error).endswith("check SOURCES__FLOWER__TOKEN")
    assert TOKEN not in str(error)


def test_bad_request_names_endpoint_status_and_body(flower):
    flower.answer_at[("received", 0)] = respond("api_tasks_limit_bad")

    error = load_fails(flower)

    assert str(error) == (
        f"Flower at {flower.base_url} answered HTTP 400 for GET /api/tasks?sort_by=received&limit=50&offset=0: "
        "\"Invalid argument 'abc' of type 'int'\"."
    )


def test_not_found_points_at_the_base_url(flower):
    serve_on_every_endpoint(flower, "api_unknown_endpoint")

    error = load_fails(flower)

    assert re.match(re.escape(f"Flower at {flower.base_url} answered HTTP 404 for GET /api/"), str(error))
    assert str(error).endswith("Check SOURCES__FLOWER__BASE_URL points at Flower.")
    assert len(str(error)) < 500  # an excerpt of the HTML page, not all of it


def test_server_errors_are_retried_a_bounded_number_of_times(flower, fast_retries):
    flower.answer_at[("received", 0)] = Response("Internal Server Error", status=500)

    error = load_fails(flower)

    assert flower.requests_to("/api/tasks") == [PROBE, PROBE]
    assert str(error) == (
        f"Flower at {flower.base_url} answered HTTP 500 after 2 attempt(s) for GET "
        "/api/tasks?sort_by=received&limit=50&offset=0: 'Internal Server Error'."
    )
    assert flower_tables() == set()


def test_non_json_body_is_a_clear_error(flower):
    login_page = "<!doctype html><html><body><form action='/login'>Sign in</form></body></html>"
    flower.answer_at[("received", 0)] = Response(login_page, content_type="text/html")

    error = load_fails(flower)

    assert str(error).startswith(
        f"Flower at {flower.base_url} returned a non-JSON body for GET /api/tasks?sort_by=received&limit=50&offset=0 "
        '(HTTP 200, text/html): "<!doctype html>'
    )


def test_unexpected_json_shape_is_a_clear_error(flower):
    flower.answer_at[("received", 0)] = Response(
        json.dumps(["not", "an", "object"]), content_type="application/json"
    )

    error = load_fails(flower)

    assert str(error) == (
        f"Flower at {flower.base_url} answered GET /api/tasks?sort_by=received&limit=50&offset=0 with a JSON list, expected "
        'an object: \'["not", "an", "object"]\'. Check SOURCES__FLOWER__BASE_URL points at Flower.'
    )


def test_refused_connection_fails_after_bounded_retries(fast_retries):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"

    with pytest.raises(PipelineStepFailed) as failure:
        make_pipeline("flower").run(flower_source(base_url=base_url, username=USERNAME, password=PASSWORD))

    error = failure.value.__cause__.__cause__
    assert isinstance(error, FlowerUnreachableError)
    assert re.fullmatch(
        re.escape(f"cannot reach Flower at {base_url} (GET /api/")
        + r"\S+\) after 2 attempt\(s\) \(RUNTIME__REQUEST_MAX_ATTEMPTS\): \[Errno 111\] Connection refused\. "
        r"Is Flower running\? "
        r"Check SOURCES__FLOWER__BASE_URL\.",
        str(error),
    )
    assert flower_tables() == set()


def test_secrets_never_reach_the_warehouse_or_pipeline_files(flower):
    load(flower, with_task_info=True)

    files = [warehouse(), *warehouse().parent.rglob("*")]
    leaked = [path for path in files if path.is_file() and PASSWORD.encode() in path.read_bytes()]
    assert leaked == []
