"""Capturing Flower before it evicts: its /metrics count of new tasks, the sensor that starts captures on it,
the capture job (no dbt), and the completeness check's sweep through a full Flower. Real Flower stacks."""

import os
import threading

import dagster as dg
import duckdb
import pytest
from celery import states
from pytest_httpserver import HTTPServer

from demo.stack import FlowerStack
from demo.workload import send_noop_tasks, wait_until_flower_has, wait_until_idle
from orchestration.serve.server import initialise_storage
from sources.flower.pressure import tasks_seen
from sources.flower.settings import flower_settings
from tests.fixtures.dagster_cli import launch
from tests.fixtures.deployments import deployment
from tests.fixtures.live_flower import load, loaded_states, send_quick_tasks, send_without_sent_events
from tests.fixtures.marts_sources import FLOWER_TASKS, serve_flower
from tests.fixtures.stalling_proxy import StallingProxy
from tests.fixtures.warehouse_reads import rows

pytestmark = pytest.mark.integration

defs = deployment("flower")


def seen_now() -> int:
    return tasks_seen(flower_settings().api.get_text("metrics"))


def test_flower_metrics_count_each_new_task_once_with_or_without_sent_events(stack):
    before = seen_now()
    send_quick_tasks(stack, 7)  # the demo's clients send task-sent events: sent and received count once
    send_without_sent_events(stack, 5)  # most deployments: received only

    assert seen_now() - before == 12


def evaluate(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return sensor(context), context.cursor


def test_the_sensor_starts_a_capture_once_flower_fills_past_its_share_and_counts_from_the_last_capture(
    stack, monkeypatch
):
    monkeypatch.setenv("SOURCES__FLOWER__MAX_TASKS", "40")
    monkeypatch.setenv("SOURCES__FLOWER__CAPTURE_AT_FILL", "0.25")  # a capture every 10 new tasks
    sensor = defs.resolve_sensor_def("flower_capture_on_pressure")
    instance = dg.DagsterInstance.ephemeral()
    capture = defs.resolve_job_def("flower_capture")
    assert capture.execute_in_process(instance=instance).success
    [materialization] = [
        event.asset_materialization
        for event in instance.all_logs(instance.get_runs(limit=1)[0].run_id)
        if event.asset_materialization
        and event.asset_materialization.asset_key == dg.AssetKey(["flower", "tasks"])
    ]
    assert materialization.metadata["flower_tasks_seen_at_walk"].value == seen_now()

    send_quick_tasks(stack, 9)
    skipped, cursor = evaluate(sensor, instance, None)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == "9 new tasks in Flower since the last capture; a capture starts at 10."

    send_quick_tasks(stack, 1)
    requested, cursor = evaluate(sensor, instance, cursor)
    assert isinstance(requested, dg.RunRequest)
    assert requested.tags["taskline/new_tasks_in_flower"] == "10"
    assert cursor == str(seen_now())

    again, _ = evaluate(sensor, instance, cursor)  # counted from the capture it started
    assert again.skip_message == "0 new tasks in Flower since the last capture; a capture starts at 10."


def test_the_sensor_counts_from_zero_after_flower_restarted(stack, monkeypatch):
    monkeypatch.setenv("SOURCES__FLOWER__MAX_TASKS", "40")
    sensor = defs.resolve_sensor_def("flower_capture_on_pressure")
    send_quick_tasks(stack, 5)
    before_the_restart = str(seen_now())  # above what Flower counts after its restart
    stack.restart_flower()
    send_quick_tasks(stack, 3)
    skipped, _ = evaluate(sensor, dg.DagsterInstance.ephemeral(), before_the_restart)

    assert skipped.skip_message == "3 new tasks in Flower since the last capture; a capture starts at 10."


def test_the_sensor_skips_and_names_the_problem_when_flower_is_down(monkeypatch):
    monkeypatch.setenv("SOURCES__FLOWER__BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SOURCES__FLOWER__USERNAME", "taskline")
    monkeypatch.setenv("SOURCES__FLOWER__PASSWORD", "secret-password")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    sensor = defs.resolve_sensor_def("flower_capture_on_pressure")

    skipped, cursor = evaluate(sensor, dg.DagsterInstance.ephemeral(), "17")

    assert skipped.skip_message.startswith(
        "Flower's new tasks not counted (the schedule still captures): cannot reach Flower at http://127.0.0.1:9"
    )
    assert "secret-password" not in skipped.skip_message
    assert cursor == "17"


def completeness(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [check] = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.check_name == "every_task_in_flower_is_loaded"
    ]
    return check


def test_a_task_lost_from_a_full_flower_fails_the_check_within_one_sweep_and_keeps_it_failed(
    tmp_path, monkeypatch, isolated_warehouse
):
    """A Flower at its max_tasks (60 held of 90 sent), checked 25 tasks a time: the capture's check passes;
    then the warehouse loses one of the oldest tasks Flower holds (the walk will not read it again). Within
    ceil(60 / 25) = 3 captures the sweep reaches it and the check fails naming it, and stays failed."""
    with FlowerStack(tmp_path / "stack", max_tasks=60) as stack:
        for name, value in stack.source_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SOURCES__FLOWER__PAGE_SIZE", "10")
        monkeypatch.setenv("SOURCES__FLOWER__TASKS_PER_CHECK", "25")
        monkeypatch.setenv("SOURCES__FLOWER__LOOKBACK_MINUTES", "0")
        send_noop_tasks(stack, 90)
        wait_until_flower_has(stack, 60)
        wait_until_idle(stack)
        instance = dg.DagsterInstance.ephemeral()
        capture = defs.resolve_job_def("flower_capture")
        first = completeness(capture.execute_in_process(instance=instance))
        assert first.passed and first.metadata["tasks_checked"].value == 60
        held = stack.api_get("/api/tasks", params={"sort_by": "-received"}).json()
        assert len(held) == 60
        lost = list(held)[-1]  # the oldest received
        with duckdb.connect(str(isolated_warehouse)) as connection:
            connection.execute("delete from flower.tasks where uuid = ?", [lost])

        verdicts = [completeness(capture.execute_in_process(instance=instance)) for _ in range(4)]

    failed_at = next(index for index, check in enumerate(verdicts) if not check.passed)
    assert failed_at < 3
    for check in verdicts[failed_at:]:
        assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
        assert check.metadata["missing_sample"].value == [lost]
    assert [check.metadata["sweep_from"].value for check in verdicts[:2]] == [0, 25]


def test_flower_restarting_during_a_capture_lets_it_finish_and_the_next_one_carry_on(stack, monkeypatch):
    """The capture is held between two pages while Flower restarts (it comes back empty) and new tasks arrive:
    it finishes green with what it read, the next capture loads the new tasks, and no task is loaded twice."""
    before = send_quick_tasks(stack, 30)
    with StallingProxy(stack.base_url) as proxy:
        monkeypatch.setenv("SOURCES__FLOWER__BASE_URL", proxy.base_url)
        capture = threading.Thread(target=lambda: load(page_size=20))
        capture.start()
        assert proxy.held.wait(60)  # mid-walk: the first page read, the second one waiting
        stack.restart_flower()
        after = send_quick_tasks(stack, 5)
        proxy.release.set()
        capture.join(120)
        assert not capture.is_alive()
        load(page_size=20)

    assert rows("select count(*) = count(distinct uuid) from flower.tasks") == [(True,)]
    assert loaded_states(after) == dict.fromkeys(after, states.SUCCESS)
    kept = loaded_states(before)
    assert kept and set(kept.values()) == {states.SUCCESS}  # what the first capture read before the restart


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_captures_and_marts_builds_launched_together_take_turns_and_are_exact(engine, request, tmp_path):
    """Two captures, a marts build and a flower_load, each its own `dagster job execute` process, at once: on
    DuckDB they take turns on the writer lock, on PostgreSQL loads of Flower take turns and dbt builds take
    turns. No deadlock, every run green, every task once in the raw table and in the mart."""
    warehouse = request.getfixturevalue("postgres_warehouse") if engine == "postgres" else None
    home = tmp_path / "dagster_home"
    home.mkdir()
    initialise_storage(home)  # two processes creating a new instance's tables at once collide
    with HTTPServer() as flower:
        serve_flower(flower, celery_messages=1, online=True)
        env = {
            **os.environ,
            "SOURCES__FLOWER__BASE_URL": flower.url_for("/").rstrip("/"),
            "SOURCES__FLOWER__USERNAME": "taskline",
            "SOURCES__FLOWER__PASSWORD": "taskline-demo",
            "DAGSTER_HOME": str(home),
            "TASKLINE_DOCS_DIR": str(tmp_path / "docs"),
        }
        jobs = ["flower_capture", "flower_marts", "flower_capture", "flower_load"]
        processes = [launch(job, env) for job in jobs]
        outputs = [process.communicate(timeout=900)[0] for process in processes]
    for job, process, output in zip(jobs, processes, outputs, strict=True):
        assert process.returncode == 0, f"{job}: {output[-4000:]}"
    query = warehouse.query if warehouse else rows
    assert query("select count(*), count(distinct uuid) from flower.tasks") == [(FLOWER_TASKS, FLOWER_TASKS)]
    assert query("select count(*) from marts.fct_task_runs") == [(FLOWER_TASKS,)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert {run.status for run in instance.get_runs()} == {dg.DagsterRunStatus.SUCCESS}
