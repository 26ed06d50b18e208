"""Scheduled loads. Each job loads one source and rebuilds the dbt models downstream of it in the same run.

Chained jobs rather than declarative automation: the marts then refresh in the run that loaded their
inputs, and no automation sensor is needed for it. Each job is green from its first run on an empty
warehouse, whatever ran before: the marts that join both sources read the other one as empty until its
first load. Runs may overlap; their writing steps take turns on the warehouse writer lock
(orchestration/writer.py).
"""

import os

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

# per source: its job's schedule and the environment variable that changes it
CRONS = {
    "flower": ("*/15 * * * *", "TASKLINE_FLOWER_SCHEDULE"),
    "sqlflow": ("0 * * * *", "TASKLINE_SQLFLOW_SCHEDULE"),
}
SCHEDULE_NAMES = {"flower": "flower_every_15_minutes", "sqlflow": "sqlflow_hourly"}


def load_job(name: str, loads: dg.AssetsDefinition, alone: bool) -> UnresolvedAssetJobDefinition:
    """The loads of one source and the models downstream of them, with the seed the joined marts read.

    With the other source configured too, its own job builds its branch (the joined marts read it as
    empty until then). Alone, the job also builds that branch, so its marts exist (empty).
    """
    downstream = dg.AssetSelection.assets(loads).downstream()
    selection = downstream | dg.AssetSelection.groups("seeds")
    if alone:
        selection |= downstream.upstream() - dg.AssetSelection.groups("ingest")
    return dg.define_asset_job(
        f"{name}_load",
        selection=selection.materializable(),
        description=f"Load {name} incrementally, then rebuild the dbt models downstream of it.",
    )


def load_schedule(name: str, job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    default_cron, variable = CRONS[name]
    return dg.ScheduleDefinition(
        name=SCHEDULE_NAMES[name],
        job=job,
        cron_schedule=os.environ.get(variable, default_cron),
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
