"""A schedule never stacks a run behind one of its own job still under way: on a tight cron or a loaded
machine, each tick would otherwise start another process waiting for the writer's turn."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.storage.runs.schema import RunsTable

from orchestration.keys import FLOWER_TASKS
from orchestration.runs.under_way import HOLD_AT_MOST
from tests.fixtures.deployments import deployment

pytestmark = pytest.mark.integration

TICK_SKIPPED = "A {job} run is still under way; the next tick after it ends starts one."


@pytest.fixture
def instance(tmp_path):
    with dg.DagsterInstance.from_config(str(tmp_path)) as local:
        yield local


def tick(defs: dg.Definitions, schedule: str, instance: dg.DagsterInstance):
    with dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def()) as context:
        return defs.resolve_schedule_def(schedule).evaluate_tick(context)


@pytest.mark.parametrize(
    ("schedule", "job"),
    [
        ("flower_marts_every_15_minutes", "flower_marts"),
        ("sqlflow_hourly", "sqlflow_load"),
        ("dashboards_every_15_minutes", "dashboards_build"),
    ],
)
def test_a_tick_starts_no_run_while_one_of_its_job_is_under_way(schedule, job, instance):
    defs = deployment("flower", "sqlflow")
    instance.report_runless_asset_event(dg.AssetMaterialization(FLOWER_TASKS))  # the marts wait for it
    assert len(tick(defs, schedule, instance).run_requests) == 1

    run = instance.add_run(dg.DagsterRun(job_name=job, status=dg.DagsterRunStatus.STARTED))
    held = tick(defs, schedule, instance)
    assert (held.run_requests, held.skip_message) == ([], TICK_SKIPPED.format(job=job))

    instance.handle_run_event(run.run_id, failed_run_event(job, run.run_id))
    assert len(tick(defs, schedule, instance).run_requests) == 1


def test_another_jobs_run_under_way_holds_no_tick(instance):
    defs = deployment("flower", "sqlflow")
    instance.report_runless_asset_event(dg.AssetMaterialization(FLOWER_TASKS))
    instance.add_run(dg.DagsterRun(job_name="flower_capture", status=dg.DagsterRunStatus.STARTED))
    assert len(tick(defs, "flower_marts_every_15_minutes", instance).run_requests) == 1


def test_a_run_under_way_for_longer_than_any_build_is_taken_for_stuck_and_holds_no_tick(instance):
    """A run whose process died where the reaper cannot see it (a Dagster instance in PostgreSQL) stays STARTED
    for good: it must not stop the marts for good."""
    defs = deployment("flower", "sqlflow")
    instance.report_runless_asset_event(dg.AssetMaterialization(FLOWER_TASKS))
    stuck = instance.add_run(dg.DagsterRun(job_name="flower_marts", status=dg.DagsterRunStatus.STARTED))
    started = datetime.now(UTC) - HOLD_AT_MOST - timedelta(minutes=1)
    with instance.run_storage.connect() as connection:
        connection.execute(
            RunsTable.update()
            .where(RunsTable.c.run_id == stuck.run_id)
            .values(create_timestamp=started.replace(tzinfo=None))
        )
    assert len(tick(defs, "flower_marts_every_15_minutes", instance).run_requests) == 1


def failed_run_event(job: str, run_id: str) -> dg.DagsterEvent:
    return dg.DagsterEvent(
        event_type_value=dg.DagsterEventType.RUN_FAILURE.value, job_name=job, message=f"{run_id} ended"
    )
