"""flower_source's incremental walk against recorded Flower 2.2 responses over real HTTP (pytest-httpserver):
the line it reads from, the look-back window, tasks in flight, and Flower's list changing while it is paged.
"""

import copy
import logging
import time

from werkzeug import Request, Response

from orchestration.warehouse.pipelines import make_pipeline
from tests.fixtures.recorded_flower import (
    PROBE,
    load,
    load_fails,
    received_every,
    received_pages,
    walk_state,
)
from tests.fixtures.warehouse_reads import rows

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
