"""Capturing Flower before it evicts: its /metrics count of new tasks, the sensor that starts captures on it,
the capture job (no dbt), and the completeness check's sweep through a full Flower. Real Flower stacks."""

import dagster as dg
import duckdb
import pytest

from demo.stack import FlowerStack
from demo.workload import send_noop_tasks, wait_until_flower_has, wait_until_idle
from sources.flower.pressure import tasks_seen
from sources.flower.settings import flower_settings
from tests.fixtures.deployments import deployment
from tests.test_flower_integration import send_quick_tasks, send_without_sent_events

pytestmark = pytest.mark.integration

defs = deployment("flower")


@pytest.fixture
def stack(flower_stack, monkeypatch):
    for name, value in flower_stack.source_env().items():
        monkeypatch.setenv(name, value)
    return flower_stack


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
