"""Runs under way, and schedules that never stack a run behind one of their own job.

A schedule whose cadence is shorter than its job's run (a marts build on a loaded machine, a tight cron)
would otherwise start a new run every tick: each one a process that loads the code and then waits for the
writer's turn, so the queue grows and every job's runs, captures included, wait longer and longer. A run
whose process died is marked failed by the reaper; where the reaper cannot see the processes (a Dagster
instance in PostgreSQL), a run still under way after HOLD_AT_MOST is taken for stuck and holds nothing back,
so a dead run never stops a schedule for good.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.storage.tags import PARTITION_NAME_TAG

# requested but not yet running its steps: a start-up in a new process, or a queue
STARTING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
IN_PROGRESS = [*STARTING, dg.DagsterRunStatus.STARTED]
# what holds a schedule back: NOT_STARTED is left out, as nothing reaps a run whose launch never happened
NOT_YET_RUNNING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING]
HOLDS_A_SCHEDULE = [*NOT_YET_RUNNING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# far longer than any capture, marts build or dashboards build takes
HOLD_AT_MOST = timedelta(hours=1)


def runs_of(
    instance: dg.DagsterInstance,
    job_name: str,
    statuses: list[dg.DagsterRunStatus],
    partition: str | None = None,
    created_after: datetime | None = None,
) -> int:
    """How many runs of the job (of its partition, if one is named) are in one of the statuses."""
    tags = {PARTITION_NAME_TAG: partition} if partition else {}
    return instance.get_runs_count(
        dg.RunsFilter(job_name=job_name, statuses=statuses, tags=tags, created_after=created_after)
    )


def holding_runs(
    instance: dg.DagsterInstance,
    job_name: str,
    statuses: list[dg.DagsterRunStatus],
    partition: str | None = None,
) -> int:
    """The runs of the job in one of the statuses that may hold its schedule back: those not yet stuck."""
    return runs_of(instance, job_name, statuses, partition, datetime.now(UTC) - HOLD_AT_MOST)


def under_way(instance: dg.DagsterInstance, job_name: str) -> dg.SkipReason | None:
    """Why a tick of the job's schedule starts nothing, if a run of the job is still under way."""
    if holding_runs(instance, job_name, HOLDS_A_SCHEDULE):
        return dg.SkipReason(f"A {job_name} run is still under way; the next tick after it ends starts one.")
    return None


def schedule_one_at_a_time(name: str, job: UnresolvedAssetJobDefinition, cron: str) -> dg.ScheduleDefinition:
    """A schedule of the job that skips its tick while a run of the job is under way."""

    @dg.schedule(name=name, job=job, cron_schedule=cron, default_status=dg.DefaultScheduleStatus.RUNNING)
    def one_at_a_time(context: dg.ScheduleEvaluationContext):
        return under_way(context.instance, job.name) or dg.RunRequest()

    return one_at_a_time
