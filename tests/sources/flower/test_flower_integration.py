"""flower_source against the real local stack: Redis + Celery worker (-E) + Flower with basic auth.

The stack is shared by the whole session, so every test sends its own tasks and asserts on their ids; tests
that stop or restart Flower bring it back before they end. Each test has its own warehouse (conftest).
"""

import logging
import re
import socket
import time

import dagster as dg
import pytest
from celery import states
from dlt.pipeline.exceptions import PipelineStepFailed

from demo.stack import FLOWER_RELEASES, FlowerStack
from demo.workload import flower_tasks, run_workload, start_lingering_task, wait_until_flower_shows_final
from sources.flower import FlowerAuthError, FlowerUnreachableError
from tests.fixtures.counting_proxy import CountingProxy
from tests.fixtures.deployments import deployment
from tests.fixtures.live_flower import (
    libfaketime,
    load,
    loaded_states,
    quoted,
    send_quick_tasks,
    send_without_sent_events,
)
from tests.fixtures.warehouse_reads import flower_tables, rows

pytestmark = pytest.mark.integration


def wait_until_flower_shows_the_retries(stack, workload, timeout: float = 90) -> None:
    """A retry's `task-received` (its retries count) comes from the worker's main process, its success from the
    pool child: Flower may show the final state a while before the count (longer on a loaded machine). The load
    reads what Flower holds, so the test waits for it, and says so if Flower never shows it."""
    deadline = time.monotonic() + timeout
    while True:
        held = flower_tasks(stack)
        lagging = {
            task.task_id: (held[task.task_id].get("retries"), task.expected_retries)
            for task in workload.tasks
            if held[task.task_id].get("retries") != task.expected_retries
        }
        if not lagging:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s Flower shows (retries, expected) {lagging}")
        time.sleep(0.5)


def test_every_task_of_a_workload_lands_exactly_once(stack):
    workload = run_workload(stack)
    wait_until_flower_shows_the_retries(stack, workload)
    load()

    assert rows("select count(*) = count(distinct uuid) from flower.tasks") == [(True,)]
    assert {uuid for (uuid,) in rows("select uuid from flower.tasks")} == set(flower_tasks(stack))
    assert loaded_states(workload.task_ids) == workload.expected_state_by_id()
    quoted = ", ".join(f"'{task_id}'" for task_id in workload.task_ids)
    loaded = {
        uuid: (name, retries, exception)
        for uuid, name, retries, exception in rows(
            f"select uuid, name, retries, exception from flower.tasks where uuid in ({quoted})"
        )
    }
    for task in workload.tasks:
        name, retries, exception = loaded[task.task_id]
        assert (name, retries) == (task.name, task.expected_retries)
        if task.expected_state == states.FAILURE:
            assert exception == task.expected_exception
    assert rows(f"select count(*) from flower.tasks where uuid in ({quoted}) and received is null") == [(0,)]
    [(online,)] = rows(f"select is_online from flower.workers where worker = '{stack.worker_name}'")
    assert online is True


def test_second_run_adds_new_tasks_and_updates_changed_ones(stack):
    lingering = start_lingering_task(stack, seconds=8)  # long enough to still run when workers are read
    load()
    assert loaded_states([lingering]) == {lingering: states.STARTED}
    # its load, and which task it is (how a stuck task is told from one whose end Flower missed)
    assert rows("select is_online, active_tasks, active_task_ids from flower.workers") == [
        (True, 1, lingering)
    ]
    [(before,)] = rows("select count(*) from flower.tasks")

    new_ids = send_quick_tasks(stack, 3)
    wait_until_flower_shows_final(stack, [lingering], timeout=30)
    load()

    assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(before + 3, before + 3)]
    assert loaded_states([lingering, *new_ids]) == dict.fromkeys([lingering, *new_ids], states.SUCCESS)
    assert rows("select active_tasks, active_task_ids from flower.workers order by snapshot_at") == [
        (1, lingering),
        (0, ""),
    ]


def test_run_with_nothing_new_makes_at_most_two_task_requests(stack, httpserver):
    send_quick_tasks(stack, 2)
    load()
    [(before,)] = rows("select count(*) from flower.tasks")

    proxy = CountingProxy(httpserver, stack.base_url)
    load(base_url=proxy.base_url)

    assert len(proxy.requests_to("/api/tasks")) <= 2
    assert rows("select count(*) from flower.tasks") == [(before,)]


def test_restarting_flower_without_persistence_deletes_nothing(stack):
    old_ids = send_quick_tasks(stack, 3)
    load()
    [(before,)] = rows("select count(*) from flower.tasks")

    stack.restart_flower()  # comes back empty
    new_ids = send_quick_tasks(stack, 1)
    assert set(flower_tasks(stack)) == set(new_ids)
    load()

    assert rows("select count(*) from flower.tasks") == [(before + 1,)]
    assert loaded_states(old_ids + new_ids) == dict.fromkeys(old_ids + new_ids, states.SUCCESS)


def test_wrong_password_fails_clearly_and_changes_nothing(stack, monkeypatch):
    send_quick_tasks(stack, 1)
    load()
    snapshot = rows("select uuid, state, _dlt_load_id from flower.tasks order by uuid")
    monkeypatch.setenv("SOURCES__FLOWER__PASSWORD", "not-the-password")

    with pytest.raises(PipelineStepFailed) as failure:
        load()

    error = failure.value.__cause__.__cause__
    assert isinstance(error, FlowerAuthError)
    assert re.fullmatch(
        re.escape(f"Flower at {stack.base_url} rejected the credentials (HTTP 401) for /api/")
        + r"\S+: check SOURCES__FLOWER__USERNAME/SOURCES__FLOWER__PASSWORD",
        str(error),
    )
    assert "not-the-password" not in str(failure.value)
    assert rows("select uuid, state, _dlt_load_id from flower.tasks order by uuid") == snapshot


def test_flower_down_fails_with_a_connection_error_after_bounded_retries(stack, monkeypatch):
    send_quick_tasks(stack, 1)
    load()
    snapshot = rows("select uuid, state, _dlt_load_id from flower.tasks order by uuid")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")

    stack.stop_flower()
    try:
        with pytest.raises(PipelineStepFailed) as failure:
            load()
    finally:
        stack.start_flower()

    error = failure.value.__cause__.__cause__
    assert isinstance(error, FlowerUnreachableError)
    assert str(error).startswith(f"cannot reach Flower at {stack.base_url} (GET /api/")
    assert (
        "after 3 attempt(s) (RUNTIME__REQUEST_MAX_ATTEMPTS): [Errno 111] Connection refused. Is Flower running?"
        in str(error)
    )
    assert rows("select uuid, state, _dlt_load_id from flower.tasks order by uuid") == snapshot
    assert "tasks" in flower_tables()


# --- what a deployment meets: worker restarts, clock skew, odd strings ------------------------------------


def test_tasks_sent_after_a_worker_restart_all_load(stack, monkeypatch):
    """More than a page of older tasks, a short window, a deploy (worker restart), new tasks: Flower 2.0
    lists the new ones after every older task (Lamport clocks start again), Flower 2.2 first."""
    monkeypatch.setenv("SOURCES__FLOWER__PAGE_SIZE", "50")
    monkeypatch.setenv("SOURCES__FLOWER__LOOKBACK_MINUTES", "0.05")  # 3 s
    send_without_sent_events(stack, 120)
    load()
    time.sleep(4)  # the look-back window passes: the 120 are now older than any later load's window
    send_without_sent_events(stack, 1)
    load()
    time.sleep(4)
    stack.restart_worker()

    new_ids = send_without_sent_events(stack, 10)
    listed = list(flower_tasks(stack, page_size=500))  # Flower's default order
    first_position = min(listed.index(task_id) for task_id in new_ids)
    if stack.flower_release == "2.0.1":
        assert (
            first_position >= len(listed) - len(new_ids) - 5
        )  # the trap: after more than a page of older ones
    else:
        assert first_position == 0
    load()

    assert loaded_states(new_ids) == dict.fromkeys(new_ids, states.SUCCESS)
    assert rows("select count(*) = count(distinct uuid) from flower.tasks") == [(True,)]


@pytest.mark.parametrize("release", list(FLOWER_RELEASES))
def test_a_worker_clock_two_hours_ahead_hides_no_other_task(release, tmp_path, monkeypatch):
    """A second worker under libfaketime (+2 h) runs tasks and a load takes them; then the ordinary worker's
    tasks load too: no worker clock moves the line."""
    with FlowerStack(tmp_path / "stack", flower_release=release) as stack:
        for name, value in stack.source_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SOURCES__FLOWER__LOOKBACK_MINUTES", "1")
        skew = {"LD_PRELOAD": libfaketime(), "FAKETIME": "+2h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        stack.start_worker(f"w2-ahead@{socket.gethostname()}", "ahead", skew)
        ahead = send_without_sent_events(stack, 5, queue="ahead")
        load()
        [(earliest,)] = rows(
            f"select min(epoch(timestamp)) from flower.tasks where uuid in ({quoted(ahead)})"
        )
        assert earliest > time.time() + 1.5 * 3600  # their events carry the skewed clock

        ordinary = send_without_sent_events(stack, 8)
        load()

        assert loaded_states(ahead + ordinary) == dict.fromkeys(ahead + ordinary, states.SUCCESS)
        assert rows("select count(*), count(distinct uuid) from flower.tasks") == [(13, 13)]


def test_a_worker_clock_far_behind_is_caught_by_the_completeness_check(tmp_path, monkeypatch):
    """The one loss the walk cannot avoid: a worker two hours behind stamps its new tasks below the line.
    The pipeline says so itself: `every_task_in_flower_is_loaded` fails and names them."""
    with FlowerStack(tmp_path / "stack") as stack:
        for name, value in stack.source_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SOURCES__FLOWER__LOOKBACK_MINUTES", "1")
        skew = {"LD_PRELOAD": libfaketime(), "FAKETIME": "-2h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        stack.start_worker(f"w3-behind@{socket.gethostname()}", "behind", skew)
        send_without_sent_events(stack, 3, queue="behind")
        assert completeness_after_a_load().passed  # the first load reads everything

        late = send_without_sent_events(stack, 4, queue="behind")
        check = completeness_after_a_load()

    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["missing"].value == 4
    assert sorted(check.metadata["missing_sample"].value) == sorted(late)
    assert "SOURCES__FLOWER__LOOKBACK_MINUTES" in check.description


def completeness_after_a_load() -> dg.AssetCheckEvaluation:
    """The Flower assets of the flower_load job and their checks, in process; the completeness verdict."""
    job = deployment("flower").resolve_job_def("flower_load")
    flower_assets = [key for key in job.asset_layer.selected_asset_keys if key.path[0] == "flower"]
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), asset_selection=flower_assets)
    [check] = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.check_name == "every_task_in_flower_is_loaded"
    ]
    return check


def test_a_string_utf8_cannot_encode_loads_replaced_and_says_where(stack, caplog):
    """A currency with a lone surrogate (what surrogateescape makes of bytes that are not UTF-8): the task's
    traceback carries it; the row loads with U+FFFD and the log names the task and the field."""
    task_id = stack.celery().send_task("etl.load_payments", args=(7, ["EUR", "X\udce9"])).id
    wait_until_flower_shows_final(stack, [task_id], timeout=60)
    with caplog.at_level(logging.WARNING, logger="sources.flower"):
        load()
    load()  # and the next load is not blocked either

    [(state, traceback)] = rows(f"select state, traceback from flower.tasks where uuid = '{task_id}'")
    assert state == states.FAILURE
    assert "invalid currency 'X\ufffd' in payment 71" in traceback
    assert (
        f"task {task_id} field traceback: characters UTF-8 cannot encode replaced with U+FFFD" in caplog.text
    )
