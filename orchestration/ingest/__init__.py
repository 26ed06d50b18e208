"""Ingest: the dlt loads of Flower and SQLFlow as Dagster assets, their jobs and schedules, Flower's capture
trigger, and the checks that prove the loads complete (may import warehouse/, runs/ and keys; not dbt/,
alerts/ or serve/).

configured (which sources this deployment has), assets (one asset per dlt resource), jobs (jobs, schedules and
the capture sensor), flower_checks and sqlflow_checks (asset checks on the loads).
"""

import dagster as dg

from orchestration.ingest.assets import flower_assets, source_assets
from orchestration.ingest.clusters import ClusterPartitions
from orchestration.ingest.configured import SourceSettings
from orchestration.ingest.flower_checks import flower_checks
from orchestration.ingest.jobs import SCHEDULES, capture_on_pressure, job_schedule, source_jobs
from orchestration.ingest.sqlflow_checks import SQLFLOW_CHECKS
from sources.sqlflow import sqlflow_source


def defs(sources: dict[str, SourceSettings]) -> dg.Definitions:
    """The assets, checks, jobs and schedules of every configured source, and Flower's capture triggers (one
    per cluster)."""
    with_flower, with_sqlflow = sources["flower"].configured, sources["sqlflow"].configured
    clusters = ClusterPartitions.from_settings() if with_flower else ClusterPartitions(())
    loads = {
        **({"flower": flower_assets(clusters)} if with_flower else {}),
        **({"sqlflow": source_assets("sqlflow", sqlflow_source)} if with_sqlflow else {}),
    }
    jobs = {
        job.name: job for name, assets in loads.items() for job in source_jobs(name, assets, len(loads) == 1)
    }
    capture = jobs.get("flower_capture")
    return dg.Definitions(
        assets=list(loads.values()),
        asset_checks=[
            *(flower_checks(clusters) if with_flower else []),
            *(SQLFLOW_CHECKS if with_sqlflow else []),
        ],
        jobs=list(jobs.values()),
        schedules=[job_schedule(job, clusters) for job in jobs.values() if job.name in SCHEDULES],
        sensors=[capture_on_pressure(capture, clusters, cluster) for cluster in clusters.names]
        if capture
        else [],
    )
