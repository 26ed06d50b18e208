"""The one Dagster code location of taskline: what it holds depends on the sources this deployment has."""

from typing import TypeVar

import dagster as dg
from dagster_dlt import DagsterDltResource

from orchestration import alerts, dashboards, dbt, ingest, runs
from orchestration.dbt.project import dbt_cli
from orchestration.ingest.configured import SourceSettings, configured_sources

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
    """Every room's definitions for the sources this deployment has, with the resources, executor and logger
    every run uses."""
    with_flower = sources["flower"].configured
    rooms = [ingest.defs(sources), dbt.defs(), alerts.defs(with_flower), runs.defs(), dashboards.defs()]
    return dg.Definitions.merge(
        *rooms,
        dg.Definitions(
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
        ),
    )


defs = build_definitions(configured_sources())
