"""The dbt assets, in three steps, one per branch of the graph, so one source's outage holds back only its own
marts: the Flower models, the lineage models, and the models that join both (with the seeds, and the Flower
models that read one). The last
one also refreshes the dbt docs, in the same process, while it holds the warehouse."""

import os
from collections.abc import Iterator
from functools import cache

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.docs import refresh_docs_when_stale
from orchestration.dbt.metadata import with_table_metadata
from orchestration.dbt.project import (
    WITHOUT_UNIT_TESTS,
    build_vars,
    dbt_project,
    keep_parse,
    prepare_manifest,
    raise_for_dbt,
)
from orchestration.dbt.translator import TRANSLATOR
from orchestration.runs.writer import writing_the_warehouse
from orchestration.warehouse.engine import DBT_SCHEMAS, publish_warehouse_settings
from orchestration.warehouse.migrations import name_the_default_cluster_in_dbt_tables
from orchestration.warehouse.pipelines import reading_the_warehouse

# Flower's models that read a seed: built with the seeds (one step), so a first build finds them and no step
# waits on another both ways
SEEDED_FLOWER_MODELS = "task_schedules+"


def build(context: dg.AssetExecutionContext, dbt: DbtCliResource, refresh_docs: bool = False) -> Iterator:
    """`dbt build` of this step's models, with row counts and column schemas on every materialisation. On
    PostgreSQL dbt builds take turns (two would collide replacing the same tables) while loads go on."""
    publish_warehouse_settings()  # as set now: a run may start long after the code location loaded
    # a job builds a subset of a step's models: run only the tests whose models it builds (or their
    # ancestors), not a test that reads a model it leaves out (dbt's default, eager, would run it);
    # dagster-dbt reads it from the environment and overrides it when a run selects single checks
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    with writing_the_warehouse(context, turn="dbt build", schemas=DBT_SCHEMAS):
        # a warehouse built before clusters: the tables dbt keeps gain their cluster column first
        with reading_the_warehouse() as client:
            for table in name_the_default_cluster_in_dbt_tables(client):
                context.log.info(f"{table} gained its cluster column: its rows are the default cluster's")
        invocation = dbt.cli(
            ["build", *WITHOUT_UNIT_TESTS, *build_vars()], context=context, raise_on_error=False
        )
        yield from with_table_metadata(context, invocation)
        keep_parse(invocation)
        raise_for_dbt(invocation)
        if refresh_docs:
            refresh_docs_when_stale(context, dbt)


def dbt_step(name: str, select: str, exclude: str | None = None, refresh_docs: bool = False):
    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        name=name,
        select=select,
        exclude=exclude,
        dagster_dbt_translator=TRANSLATOR,
    )
    def step(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from build(context, dbt, refresh_docs)

    return step


@cache
def dbt_steps() -> tuple[dg.AssetsDefinition, ...]:
    """The three steps, read from a manifest made current first (so importing this module runs no dbt)."""
    prepare_manifest()
    return (
        # the models a seed declares for (periodic_tasks: task_schedules) build after the seeds, in the last step
        dbt_step("flower_models", select="source:flower+", exclude=f"source:sqlflow+ {SEEDED_FLOWER_MODELS}"),
        dbt_step("lineage_models", select="source:sqlflow+", exclude="source:flower+"),
        # last in every run that builds marts: the models that join both sources, then the docs of everything
        dbt_step(
            "joined_models",
            select=f"source:flower+,source:sqlflow+ resource_type:seed {SEEDED_FLOWER_MODELS}",
            refresh_docs=True,
        ),
    )
