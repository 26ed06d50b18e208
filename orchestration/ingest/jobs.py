"""Jobs, schedules and the capture trigger.

Flower forgets: what it holds must be captured before it evicts it, cheaply and often, while the marts cost
a dbt build. So Flower has two cadences:
- `flower_capture` lands Flower's tasks and snapshots only (with the completeness check), every 5 minutes
  and whenever `flower_capture_on_pressure` sees Flower filling up (its /metrics counts the new tasks since
  the last capture against SOURCES__FLOWER__MAX_TASKS);
- `flower_marts` rebuilds the dbt models downstream of Flower from what was captured, every 15 minutes
  (incrementally: its cost grows with what changed).
`flower_load` does both in one run, for a click in the UI. SQLFlow changes slowly: `sqlflow_load` loads it and
rebuilds its models hourly. Every job is green from its first run on an empty warehouse: the marts that join
both sources read the other one as empty until its first load, and `flower_marts` waits for the first capture.
Runs of different jobs may overlap; their writing steps take turns on the warehouse writer lock
(orchestration/runs/writer.py). A schedule never stacks a run behind one of its own job still under way.
"""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration import settings
from orchestration.ingest.clusters import ClusterPartitions
from orchestration.keys import DASHBOARDS_GROUP, FLOWER_TASKS, TASKS_SEEN_METADATA
from orchestration.runs.under_way import (
    IN_PROGRESS,
    NOT_YET_RUNNING,
    STARTING,
    holding_runs,
    runs_of,
    schedule_one_at_a_time,
    under_way,
)
from sources.flower.client import FlowerError
from sources.flower.clusters import flower_cluster
from sources.flower.pressure import new_since, tasks_seen

# job → (schedule name, the setting of its cron: orchestration/settings.py has the default)
SCHEDULES = {
    "flower_capture": ("flower_capture_every_5_minutes", settings.FLOWER_CAPTURE_SCHEDULE),
    "flower_marts": ("flower_marts_every_15_minutes", settings.FLOWER_MARTS_SCHEDULE),
    "sqlflow_load": ("sqlflow_hourly", settings.SQLFLOW_SCHEDULE),
}
# /metrics answers in milliseconds: the trigger can look often
PRESSURE_SENSOR_INTERVAL_S = 5
# a run takes a while from its request to its walk (queue, a new process loading the code): the next capture
# is requested once the previous one has started, so its start-up overlaps the other's walk
# captures under way (walking, or waiting for their turn on the warehouse): more would only wait behind them
CAPTURES_IN_PROGRESS_MAX = 3


def modelled_downstream(loads: dg.AssetsDefinition, alone: bool) -> dg.AssetSelection:
    """The dbt models downstream of a source's loads, with the seed the joined marts read.

    With the other source configured too, its own job builds its branch (the joined marts read it as
    empty until then). Alone, this also builds that branch, so its marts exist (empty). The dashboards are
    built by their own job: a source's runs stay as long as their loads and models.
    """
    downstream = dg.AssetSelection.assets(loads).downstream() - dg.AssetSelection.groups(DASHBOARDS_GROUP)
    selection = downstream | dg.AssetSelection.groups("seeds")
    if alone:
        selection |= downstream.upstream() - dg.AssetSelection.groups("ingest")
    return selection


def source_jobs(name: str, loads: dg.AssetsDefinition, alone: bool) -> list[UnresolvedAssetJobDefinition]:
    modelled = modelled_downstream(loads, alone)
    load = dg.define_asset_job(
        f"{name}_load",
        selection=modelled.materializable(),
        description=f"Load {name} incrementally, then rebuild the dbt models downstream of it.",
    )
    if name != "flower":
        return [load]
    capture = dg.define_asset_job(
        "flower_capture",
        selection=dg.AssetSelection.assets(loads),
        description=(
            "Capture what Flower holds before it evicts it: Flower's tasks and snapshots only, no dbt (the "
            "flower_marts job models them). Scheduled, and started by flower_capture_on_pressure when Flower "
            "fills up."
        ),
    )
    marts = dg.define_asset_job(
        "flower_marts",
        selection=(modelled - dg.AssetSelection.groups("ingest")).materializable(),
        description="Rebuild the dbt models downstream of Flower from what the captures landed (incremental).",
    )
    return [capture, marts, load]


def job_schedule(job: UnresolvedAssetJobDefinition, clusters: ClusterPartitions) -> dg.ScheduleDefinition:
    name, variable = SCHEDULES[job.name]
    cron = settings.value(variable)
    if job.name == "flower_capture":

        @dg.schedule(name=name, job=job, cron_schedule=cron, default_status=dg.DefaultScheduleStatus.RUNNING)
        def every_cluster(context: dg.ScheduleEvaluationContext):
            """One capture per cluster: each its own run, so one cluster down fails only its own; none for a
            cluster whose last capture is still starting (it walks what this one would)."""
            tick = context.scheduled_execution_time.isoformat()
            due = [
                cluster
                for cluster in clusters.names
                if not holding_runs(
                    context.instance, job.name, NOT_YET_RUNNING, clusters.partition_key(cluster)
                )
            ]
            if not due:
                return dg.SkipReason(
                    "Every cluster's last capture is still starting; it captures what is new."
                )
            return [
                dg.RunRequest(run_key=f"{cluster}@{tick}", partition_key=clusters.partition_key(cluster))
                for cluster in due
            ]

        return every_cluster
    if job.name != "flower_marts":
        return schedule_one_at_a_time(name, job, cron)

    @dg.schedule(name=name, job=job, cron_schedule=cron, default_status=dg.DefaultScheduleStatus.RUNNING)
    def after_the_first_capture(context: dg.ScheduleEvaluationContext):
        if context.instance.get_latest_materialization_event(FLOWER_TASKS) is None:
            return dg.SkipReason(
                "No Flower capture has landed yet: the marts are built from the first one on."
            )
        return under_way(context.instance, job.name) or dg.RunRequest()

    return after_the_first_capture


def capture_on_pressure(
    capture: UnresolvedAssetJobDefinition, clusters: ClusterPartitions, cluster: str
) -> dg.SensorDefinition:
    """Cluster `cluster`'s capture trigger: a sensor of its own, so a Flower that is slow to answer delays
    no other cluster's."""
    of_cluster = clusters.label(cluster)

    @dg.sensor(
        name="flower_capture_on_pressure" + (f"_{cluster}" if clusters.partitioned else ""),
        job=capture,
        minimum_interval_seconds=PRESSURE_SENSOR_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Starts flower_capture{of_cluster} before Flower evicts tasks nobody has read. Every few seconds it "
            "reads Flower's /metrics (milliseconds; one /api/tasks request would sort every task Flower holds) "
            "and counts the tasks Flower has seen since the last capture began (or since this sensor last "
            "started one): at SOURCES__FLOWER__CAPTURE_AT_FILL (default 0.25) of SOURCES__FLOWER__MAX_TASKS "
            "(Flower's --max_tasks, default 100,000; a cluster's own settings first) it starts a capture, unless "
            "one is still starting or three are under way."
        ),
    )
    def sensor(context: dg.SensorEvaluationContext):
        flower = flower_cluster(cluster)
        partition = clusters.partition_key(cluster)
        try:
            seen = tasks_seen(flower.api.get_text("metrics"))
        except FlowerError as error:
            return dg.SkipReason(
                f"Flower{of_cluster}'s new tasks not counted (the schedule still captures): {error}"
            )
        readings = (_int(context.cursor), seen_at_last_capture(context.instance, partition))
        references = [reading for reading in readings if reading is not None]
        new = new_since(seen, max(references, default=None))
        threshold = flower.settings.capture_threshold
        if new < threshold:
            return dg.SkipReason(
                f"{new} new tasks in Flower{of_cluster} since the last capture; a capture starts at {threshold}."
            )
        if runs_of(context.instance, capture.name, STARTING, partition):
            return dg.SkipReason(f"{new} new tasks in Flower{of_cluster}, and a capture is starting.")
        in_progress = runs_of(context.instance, capture.name, IN_PROGRESS, partition)
        if in_progress >= CAPTURES_IN_PROGRESS_MAX:
            return dg.SkipReason(
                f"{new} new tasks in Flower{of_cluster}, and {in_progress} captures are already under way."
            )
        context.update_cursor(str(seen))
        return dg.RunRequest(partition_key=partition, tags={"taskline/new_tasks_in_flower": str(new)})

    return sensor


def seen_at_last_capture(instance: dg.DagsterInstance, partition: str | None) -> int | None:
    """Flower's count of tasks seen when the cluster's latest capture began its walk."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(FLOWER_TASKS, asset_partitions=[partition] if partition else None), limit=1
    ).records
    materialization = records[0].asset_materialization if records else None
    value = materialization and materialization.metadata.get(TASKS_SEEN_METADATA)
    return _int(value.value) if value else None


def _int(value) -> int | None:
    return None if value is None else int(value)
