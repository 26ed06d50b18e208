"""flower_source against recorded Flower 2.2 responses, served over real HTTP (pytest-httpserver).

Bodies come from tests/recordings/flower (recorded from a real Flower 2.2 stack). /api/tasks pages are cut from the
recorded task objects the way Flower cuts them: newest last event first, then limit/offset.
"""

import json
import logging
import time
from datetime import UTC, datetime

from tests.fixtures.recorded_flower import (
    FAILED_UUID,
    NEWEST_UUID,
    PROBE,
    load,
    received_pages,
    recorded,
    walk_state,
)
from tests.fixtures.warehouse_reads import at, column_types, rows, warehouse

# --- loading every task -----------------------------------------------------------------------------------


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
