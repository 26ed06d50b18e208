"""dlt assets: one Dagster asset per dlt resource, keyed ["<source>", "<resource>"], group `ingest`."""

from collections.abc import Callable, Iterator

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline

from orchestration.writer import writing_the_warehouse
from sources.flower import flower_source
from sources.sqlflow import sqlflow_source
from sources.warehouse import finish_pending_packages, make_pipeline


class SourceKeyTranslator(DagsterDltTranslator):
    """Keys ["<source>", "<resource>"] with no phantom upstream asset."""

    def __init__(self, source_name: str):
        self.source_name = source_name

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(key=dg.AssetKey([self.source_name, data.resource.name]), deps=[])
            .merge_attributes(kinds={"duckdb"})
        )


def rows_loaded_per_table(pipeline: Pipeline, resource_name: str) -> dict[str, int]:
    """Rows this run normalised into each table the resource writes (its own and its named siblings)."""
    counts = pipeline.last_trace.last_normalize_info.row_counts
    tables = pipeline.default_schema.tables
    return {
        table: rows
        for table, rows in sorted(counts.items())
        if tables.get(table, {}).get("resource") == resource_name
    }


def run_load(
    context: dg.AssetExecutionContext, dlt: DagsterDltResource, source: DltSource, pipeline: Pipeline
) -> Iterator[dg.MaterializeResult]:
    """Finish what a killed run left, then run a fresh source through the pipeline; rows loaded per table
    go into each materialisation."""
    with writing_the_warehouse(context):
        # dagster-dlt's run starts by dropping the pipeline's working dir: a package pending there is lost
        for load_id in finish_pending_packages(pipeline):
            context.log.warning(f"Finished dlt load package {load_id}, left by an interrupted run")
        for result in dlt.run(context=context, dlt_source=source, dlt_pipeline=pipeline):
            per_table = rows_loaded_per_table(pipeline, result.asset_key.path[-1])
            yield result._replace(
                metadata={
                    **result.metadata,
                    "rows_loaded": dg.MetadataValue.int(sum(per_table.values())),
                    "rows_loaded_per_table": dg.MetadataValue.json(per_table),
                }
            )


def source_assets(name: str, build_source: Callable[[], DltSource]) -> dg.AssetsDefinition:
    @dlt_assets(
        dlt_source=build_source(),
        dlt_pipeline=make_pipeline(name),
        name=name,
        group_name="ingest",
        dagster_dlt_translator=SourceKeyTranslator(name),
    )
    def load(context: dg.AssetExecutionContext, dlt: DagsterDltResource):
        # a DltSource cannot be materialised twice in one process: build a new one for every run
        yield from run_load(context, dlt, build_source(), make_pipeline(name))

    return load


flower_assets = source_assets("flower", flower_source)
sqlflow_assets = source_assets("sqlflow", sqlflow_source)
