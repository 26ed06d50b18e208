"""flower_source's snapshots (workers, task types, queue lengths) and opt-in task_info, against recorded
Flower 2.2 responses over real HTTP (pytest-httpserver).
"""

import json
import logging

from werkzeug import Response

from tests.fixtures.recorded_flower import (
    FAILED_UUID,
    NEWEST_UUID,
    load,
)
from tests.fixtures.warehouse_reads import at, column_types, flower_tables, rows, warehouse

# --- snapshots --------------------------------------------------------------------------------------------


def test_workers_are_one_row_per_worker_per_snapshot(flower, httpserver):
    load(flower)

    [row] = rows(
        "select worker, is_online, heartbeat_at, pid, uptime_s, pool_implementation, pool_max_concurrency,"
        " pool_processes, prefetch_count, processed_total, processed_by_task, queues, registered_tasks,"
        " active_tasks, reserved_tasks, scheduled_tasks, cpu_user_s, cpu_system_s, max_rss_kb,"
        " broker_transport, active_task_ids, reserved_task_ids from flower.workers"
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
        NEWEST_UUID,  # what it runs: a stuck task is told from one whose end Flower missed
        "",  # an empty list: nothing held (None: not asked, an offline worker)
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
