"""Scheduled loads. Each job loads one source and rebuilds everything downstream of it in the same run.

Chained jobs rather than declarative automation: the marts then refresh in the run that loaded their
inputs, and no automation sensor is needed for it. Runs may overlap; their writing steps take turns on the
warehouse writer lock (orchestration/writer.py).
"""

import os

import dagster as dg

from orchestration.ingest import flower_assets, sqlflow_assets


def load_and_refresh_job(name: str, loads: dg.AssetsDefinition):
    # seeds are not downstream of a load, but marts that join them need them present
    selection = dg.AssetSelection.assets(loads).downstream() | dg.AssetSelection.groups("seeds")
    return dg.define_asset_job(
        f"{name}_load",
        selection=selection,
        description=f"Load {name} incrementally, then rebuild the dbt models downstream of it.",
    )


flower_job = load_and_refresh_job("flower", flower_assets)
sqlflow_job = load_and_refresh_job("sqlflow", sqlflow_assets)

flower_schedule = dg.ScheduleDefinition(
    name="flower_every_15_minutes",
    job=flower_job,
    cron_schedule=os.environ.get("TASKLINE_FLOWER_SCHEDULE", "*/15 * * * *"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
sqlflow_schedule = dg.ScheduleDefinition(
    name="sqlflow_hourly",
    job=sqlflow_job,
    cron_schedule=os.environ.get("TASKLINE_SQLFLOW_SCHEDULE", "0 * * * *"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
