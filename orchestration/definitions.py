"""The one Dagster code location of taskline: what it holds depends on the sources this deployment has."""

import dagster as dg
from dagster_dlt import DagsterDltResource

from orchestration.alerts import task_failure_alerts_open
from orchestration.checks import FLOWER_CHECKS
from orchestration.configured import SourceSettings, configured_sources
from orchestration.dbt.assets import dbt_steps
from orchestration.dbt.project import dbt_cli
from orchestration.ingest import SOURCES, source_assets
from orchestration.lineage_checks import SQLFLOW_CHECKS
from orchestration.notify import taskline_notifications
from orchestration.reaper import reap_dead_runs_sensor
from orchestration.schedules import SCHEDULES, capture_on_pressure, job_schedule, source_jobs


def build_definitions(sources: dict[str, SourceSettings]) -> dg.Definitions:
    """Assets, jobs, schedules and checks of every configured source (and Flower's capture trigger), and every
    dbt model (a source left out reads as empty in the marts)."""
    loads = {
        name: source_assets(name, SOURCES[name]) for name, source in sources.items() if source.configured
    }
    jobs = {
        job.name: job for name, assets in loads.items() for job in source_jobs(name, assets, len(loads) == 1)
    }
    return dg.Definitions(
        assets=[*loads.values(), *dbt_steps()],
        asset_checks=[
            *([*FLOWER_CHECKS, task_failure_alerts_open] if "flower" in loads else []),
            *(SQLFLOW_CHECKS if "sqlflow" in loads else []),
        ],
        jobs=list(jobs.values()),
        schedules=[job_schedule(job) for job in jobs.values() if job.name in SCHEDULES],
        sensors=[
            reap_dead_runs_sensor,
            taskline_notifications,
            *([capture_on_pressure(jobs["flower_capture"])] if "flower" in loads else []),
        ],
        resources={"dlt": DagsterDltResource(), "dbt": dbt_cli},
        # one process runs the steps in order: no re-import per step (writers take turns on a file lock)
        executor=dg.in_process_executor,
    )


defs = build_definitions(configured_sources())
