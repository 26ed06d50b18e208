"""Ingest: the dlt loads of Flower and SQLFlow as Dagster assets, their jobs and schedules, Flower's capture
trigger, and the checks that prove the loads complete (may import warehouse/, runs/ and keys; not dbt/,
alerts/ or serve/).

configured (which sources this deployment has), assets (one asset per dlt resource), jobs (jobs, schedules and
the capture sensor), flower_checks and sqlflow_checks (asset checks on the loads).
"""

import dagster as dg

from orchestration.ingest.assets import SOURCES, source_assets
from orchestration.ingest.configured import SourceSettings
from orchestration.ingest.flower_checks import FLOWER_CHECKS
from orchestration.ingest.jobs import SCHEDULES, capture_on_pressure, job_schedule, source_jobs
from orchestration.ingest.sqlflow_checks import SQLFLOW_CHECKS


def defs(sources: dict[str, SourceSettings]) -> dg.Definitions:
    """The assets, checks, jobs and schedules of every configured source, and Flower's capture trigger."""
    loads = {
        name: source_assets(name, SOURCES[name]) for name, source in sources.items() if source.configured
    }
    jobs = {
        job.name: job for name, assets in loads.items() for job in source_jobs(name, assets, len(loads) == 1)
    }
    return dg.Definitions(
        assets=list(loads.values()),
        asset_checks=[
            *(FLOWER_CHECKS if "flower" in loads else []),
            *(SQLFLOW_CHECKS if "sqlflow" in loads else []),
        ],
        jobs=list(jobs.values()),
        schedules=[job_schedule(job) for job in jobs.values() if job.name in SCHEDULES],
        sensors=[capture_on_pressure(jobs["flower_capture"])] if "flower" in loads else [],
    )
