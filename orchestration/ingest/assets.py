"""dlt assets: one Dagster asset per dlt resource, keyed ["<source>", "<resource>"], group `ingest`."""

from collections.abc import Callable, Iterator

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline

from orchestration.ingest.clusters import ClusterPartitions
from orchestration.keys import FLOWER_TASKS, TASKS_SEEN_METADATA
from orchestration.runs.writer import writing_the_warehouse
from orchestration.warehouse.engine import warehouse_engine
from orchestration.warehouse.migrations import name_the_default_cluster
from orchestration.warehouse.pipelines import finish_pending_packages, make_pipeline, using_working_dir
from sources.flower import flower_source
from sources.flower.completeness import last_walk
from sources.sqlflow.run_counts import last_run_counts

# what each dlt resource loads, from which endpoint, how it is written and what it remembers between runs
DESCRIPTIONS = {
    "flower/tasks": (
        "Every Celery task Flower holds, one row per task uuid (merge on `uuid`; rows Flower forgets stay). "
        "From GET /api/tasks in overlapping pages: tasks without a received time (`sort_by=received`), tasks "
        "received since the previous walk began minus SOURCES__FLOWER__LOOKBACK_MINUTES (`sort_by=-received`), "
        "and tasks in flight at the previous run (`sort_by=-started`, `state=`, /api/task/info). Cursor: the "
        "loader's own clock when the previous walk began, plus the in-flight tasks (resource state)."
    ),
    "flower/workers": (
        "One row per worker per run (append): GET /api/workers?refresh=1 and ?status=1, plus one "
        "?workername= call per online worker for its load. Taken before the tasks walk. No cursor."
    ),
    "flower/task_types": "Task names Flower has seen (GET /api/task/types), merged on `name` with when last seen.",
    "flower/queues_length": (
        "Messages waiting per broker queue (GET /api/queues/length), appended per run; no rows when the "
        "broker does not report queue lengths."
    ),
    "flower/task_info": (
        "Each task of a `tasks` page again from GET /api/task/info/<uuid> (opt-in cross-check, merge on `uuid`)."
    ),
    "sqlflow/jobs": (
        "Every SQLFlow job of the user (POST sqlflow/job/displayUserJobsSummary), merged whole on `job_id` "
        "every run. No cursor."
    ),
    "sqlflow/job_lineage": (
        "Lineage of finished jobs (success, partial_success) that are new or changed in time or status, from "
        "POST sqlflow/job/exportLineageAsJson: a header per job (merge on `job_id`) and its objects, columns and "
        "relationships (replaced per job). Cursor: the version exported per job (resource state). Metadata: the "
        "jobs sent, loaded, failed, backed off and unchanged this run."
    ),
    "sqlflow/query_lineage": (
        "Lineage of each SQL file matched by SOURCES__SQLFLOW__SQL_PATHS, from POST sqlflow/generation/sqlflow, "
        "sent again only when its content changes: a header per file (merge on `sql_file`; `retired_at` once "
        "the file no longer matches) and its parts (replaced per file). Cursor: content hashes (resource state). "
        "Metadata: the files sent, loaded, failed, backed off and unchanged this run."
    ),
}


class SourceKeyTranslator(DagsterDltTranslator):
    """Keys ["<source>", "<resource>"] with no phantom upstream asset, and a description of each load."""

    def __init__(self, source_name: str):
        self.source_name = source_name

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(
                key=dg.AssetKey([self.source_name, data.resource.name]),
                deps=[],
                description=DESCRIPTIONS[f"{self.source_name}/{data.resource.name}"],
            )
            .merge_attributes(kinds={warehouse_engine()})
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
    dataset = pipeline.dataset_name
    # loads into one dataset take turns (one staging dataset; on DuckDB one writer anyway); on PostgreSQL,
    # loads of different sources run at once
    with (
        writing_the_warehouse(context, turn=f"{dataset} load", schemas=(dataset, f"{dataset}_staging")),
        using_working_dir(pipeline.pipeline_name),
    ):
        # dagster-dlt's run starts by dropping the pipeline's working dir: a package pending there is lost
        for load_id in finish_pending_packages(pipeline):
            context.log.warning(f"Finished dlt load package {load_id}, left by an interrupted run")
        if dataset == "flower":
            for table in name_the_default_cluster(pipeline):
                context.log.info(
                    f"flower.{table} gained its cluster column: its rows are the default cluster's"
                )
        for result in dlt.run(context=context, dlt_source=source, dlt_pipeline=pipeline):
            per_table = rows_loaded_per_table(pipeline, result.asset_key.path[-1])
            yield result._replace(
                metadata={
                    **result.metadata,
                    "rows_loaded": dg.MetadataValue.int(sum(per_table.values())),
                    "rows_loaded_per_table": dg.MetadataValue.json(per_table),
                    **(walk_metadata(pipeline) if result.asset_key == FLOWER_TASKS else {}),
                    **lineage_run_metadata(pipeline, result.asset_key),
                }
            )


def walk_metadata(pipeline: Pipeline) -> dict[str, dg.MetadataValue]:
    """What the Flower tasks walk did, and Flower's count of tasks seen when it began (the capture trigger
    counts new tasks from there)."""
    notes = (last_walk(pipeline) or {}).get("last_walk") or {}
    metadata = {
        "flower_requests": dg.MetadataValue.int(notes.get("requests", 0)),
        "flower_tasks_read": dg.MetadataValue.int(notes.get("tasks_read", 0)),
    }
    if notes.get("tasks_seen") is not None:
        metadata[TASKS_SEEN_METADATA] = dg.MetadataValue.int(notes["tasks_seen"])
    return metadata


# what the SQLFlow lineage loads count, per resource
SQLFLOW_LINEAGE_ITEMS = {"job_lineage": "jobs", "query_lineage": "files"}


def lineage_run_metadata(pipeline: Pipeline, asset_key: dg.AssetKey) -> dict[str, dg.MetadataValue]:
    """What a SQLFlow lineage load did with its files or jobs (`files_sent`, `files_loaded`, `files_failed`,
    `files_backed_off`, `files_unchanged`; `jobs_...` likewise): its per-item failures show in the
    materialisation, not only in the logs and the check."""
    source, resource = asset_key.path
    items = SQLFLOW_LINEAGE_ITEMS.get(resource) if source == "sqlflow" else None
    counts = (last_run_counts(pipeline, resource) if items else None) or {}
    return {f"{items}_{outcome}": dg.MetadataValue.int(count) for outcome, count in counts.items()}


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


def flower_assets(clusters: ClusterPartitions) -> dg.AssetsDefinition:
    """Flower's loads: one per cluster (a partition each once an estate declares clusters), each with its own
    Flower, settings and cursor (pipeline), into the one `flower` dataset."""

    @dlt_assets(
        dlt_source=flower_source(),
        dlt_pipeline=make_pipeline("flower"),
        name="flower",
        group_name="ingest",
        dagster_dlt_translator=SourceKeyTranslator("flower"),
        partitions_def=clusters.partitions,
    )
    def load(context: dg.AssetExecutionContext, dlt: DagsterDltResource):
        cluster = clusters.of_run(context)  # as the settings declare it now
        source = flower_source(settings=cluster.settings, cluster=cluster.declared_name)
        yield from run_load(context, dlt, source, make_pipeline(cluster.pipeline_name, dataset="flower"))

    return load
