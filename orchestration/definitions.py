"""The one Dagster code location of taskline: what it holds depends on the sources this deployment has."""

from typing import TypeVar

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

Fixable = TypeVar("Fixable", dg.ResourceDefinition, dg.ExecutorDefinition, dg.LoggerDefinition)


def fixed(definition: Fixable) -> Fixable:
    """`definition` with the config the deployment gave it and an empty schema in place of its own: run config
    can set nothing on it, and a launch that tries is refused by Dagster's run config validation (the UI's,
    GraphQL's and the CLI's alike) before any run exists.

    Resources, the executor and loggers read their config in the process that runs the steps: a login that could
    set dbt's `dbt_executable`, fs_io_manager's `base_dir` or the executor's `marker_to_close` could run or write
    anything there. Every one the Definitions bind goes through here (tests/test_run_config.py checks them all)."""
    field = definition.config_field
    given = field.default_value if field is not None and field.default_provided else {}
    return definition.configured(given, config_schema={})


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
        # what a run uses is set here and by the environment (.dlt files), never by a launch: each is fixed,
        # the io_manager Dagster would otherwise add unfixed included
        resources={
            name: fixed(resource)
            for name, resource in {
                "io_manager": dg.fs_io_manager,
                "dlt": DagsterDltResource().get_resource_definition(),
                "dbt": dbt_cli.get_resource_definition(),
            }.items()
        },
        # one process runs the steps in order: no re-import per step (writers take turns on a file lock)
        executor=fixed(dg.in_process_executor),
        loggers={"console": fixed(dg.colored_console_logger)},
    )


defs = build_definitions(configured_sources())
