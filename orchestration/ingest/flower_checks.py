"""Asset checks: the pipeline proving its own completeness and freshness.

- `every_task_in_flower_is_loaded` on flower/tasks: every task Flower holds is in the warehouse, as new;
- `recent_task_events` on flower/tasks: the newest task event is not older than the dbt source freshness;
- `task_attempts_coverage` on marts/task_coverage_hourly: the loss Flower cannot show (evicted tasks).
"""

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.event_api import PartitionKeyFilter
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from orchestration.ingest.clusters import ClusterPartitions
from orchestration.keys import COMPLETENESS_CHECK, COVERAGE_MART, FLOWER_TASKS, FRESHNESS_CHECK
from orchestration.runs.writer import reading_in_turn
from orchestration.settings import DBT_MANIFEST
from orchestration.warehouse.pipelines import make_pipeline, query_rows
from sources.flower.clusters import Cluster
from sources.flower.completeness import CheckReader, compare, last_walk
from sources.flower.loaded import loaded_times

FRESHNESS_PERIODS_S = {"minute": 60, "hour": 3600, "day": 86400}


# one row per worker: the snapshot interval that ends at its cluster's latest workers snapshot; a worker
# name repeats across clusters, so an estate's workers are named cluster/worker
LATEST_INTERVALS_SQL = """
    select
        case when cluster = 'default' then worker else cluster || '/' || worker end as worker,
        snapshot_at, attempts_processed, attempts_loaded, attempts_lost
    from intermediate.int_worker_interval_coverage
    where ends_at_latest_snapshot
    order by cluster, worker
"""


@dg.asset_check(
    asset=COVERAGE_MART,
    name="task_attempts_coverage",
    config_schema={},  # a launch sets nothing here (definitions.fixed)
    description=(
        "Warns when task attempts the Celery workers ran never reached the warehouse. Flower keeps only its "
        "max_tasks most recently touched tasks: when more run between two loads, the oldest are evicted "
        "before a load sees them. For each worker in the latest workers snapshot the check compares the "
        "attempts its own counter (stats.total, retries included) counted since its previous snapshot "
        "with the attempts of loaded tasks that began on it in that interval "
        "(intermediate.int_worker_interval_coverage; per hour in marts.task_coverage_hourly). It relies "
        "on the Flower load taking the workers snapshot BEFORE it walks the tasks: every attempt that "
        "snapshot counted was already in Flower when the same load walked the tasks, so these latest "
        "intervals are settled and an attempt missing from them was evicted or forgotten (a Flower "
        "restart) before any load could read it. WARN with the attempts lost in the metadata: "
        "attempts_lost balances all workers together (a task counts for the worker of its latest attempt, "
        "so a retry that moved to another worker is not lost); attempts_lost_per_worker shows where. "
        "Passes with attempts_lost 0 otherwise, also on a first load, which has no earlier snapshot to "
        "compare with. Clock skew between a worker and Flower moves attempts across the interval's end "
        "(started times come from the worker's clock, the reading time from Flower's)."
    ),
)
def task_attempts_coverage(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    # DuckDB lets no one read while another process writes: take the writers' turn
    with reading_in_turn(context.op_execution_context):
        return coverage_result(latest_intervals())


def latest_intervals() -> list[tuple[str, datetime, int, int, int]]:
    return query_rows(LATEST_INTERVALS_SQL)


def coverage_result(intervals: list[tuple[str, datetime, int, int, int]]) -> dg.AssetCheckResult:
    processed = sum(row[2] for row in intervals)
    loaded = sum(row[3] for row in intervals)
    # the estate's balance: a retry that ran first on another worker is not lost, only attributed elsewhere
    lost = max(processed - loaded, 0)
    metadata = {
        "workers": dg.MetadataValue.int(len(intervals)),
        "attempts_processed": dg.MetadataValue.int(processed),
        "attempts_loaded": dg.MetadataValue.int(loaded),
        "attempts_lost": dg.MetadataValue.int(lost),
        "attempts_lost_per_worker": dg.MetadataValue.json({row[0]: row[4] for row in intervals}),
    }
    if intervals:
        metadata["interval_end"] = dg.MetadataValue.timestamp(intervals[0][1])
    if processed:
        metadata["coverage"] = dg.MetadataValue.float((processed - lost) / processed)
    if lost:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=metadata,
            description=(
                f"{lost} of {processed} task attempts the workers counted since their previous snapshot "
                "are not in the warehouse: Flower evicted (max_tasks) or forgot them before a load read "
                "them. Load more often or raise Flower's --max_tasks."
            ),
        )
    if not intervals:
        description = (
            "No worker has two snapshots yet: nothing to compare (the first load sets the baseline)."
        )
    else:
        description = (
            f"All {processed} task attempts the workers counted since their previous snapshot are "
            "accounted for by loaded tasks."
        )
    return dg.AssetCheckResult(passed=True, metadata=metadata, description=description)


COMPLETENESS_DESCRIPTION = (
    "After each load, the tasks Flower holds must be in the warehouse with a last event at least as new. "
    "Each check reads the tasks new to the load (not received yet, or received since the previous walk "
    "began), "
    "the next SOURCES__FLOWER__TASKS_PER_CHECK tasks (default 20,000) of Flower's whole list, newest "
    "received first, from where the previous check stopped (a sweep that wraps at the end: all of a "
    "Flower that holds no more than that at every check, a full one of 100,000 every 5 checks), and "
    "again the tasks the previous check found missing or older, so a loss stays red until a load "
    "brings them. Fails (error) naming the missing tasks and those older in the warehouse; tasks whose "
    "last event came after the load's walk began are left to the next load and counted apart. Its "
    "metadata also carries the sweep's position and the walk's notes: pages read back because Flower "
    "evicted tasks while they were paged, in-flight tasks Flower forgot, values replaced so a task could "
    "load."
)


def completeness(
    context: dg.AssetCheckExecutionContext, cluster: Cluster, clusters: ClusterPartitions
) -> dg.AssetCheckResult:
    of_cluster = clusters.label(cluster.name)
    pipeline = make_pipeline(cluster.pipeline_name, dataset="flower")
    walk = last_walk(pipeline)
    if walk is None:
        return dg.AssetCheckResult(
            passed=True, description=f"No Flower load{of_cluster} yet: nothing to compare."
        )
    notes = walk.get("last_walk") or {}
    previous = previous_check_metadata(
        context.instance, COMPLETENESS_CHECK, clusters.partition_key(cluster.name)
    )
    sweep_from = previous.get("sweep_next_offset", 0)
    recheck = [*previous.get("missing_sample", []), *previous.get("older_in_warehouse_sample", [])]
    settings = cluster.settings
    reader = CheckReader(cluster.api, settings.page_size, settings.tasks_per_check)
    # the look-back's tasks were new to the previous check's head already: the sweep covers them again
    held, sweep = reader.tasks(notes.get("previous_start", notes.get("line")), sweep_from, recheck)
    with reading_in_turn(context.op_execution_context):
        loaded = loaded_times(pipeline, cluster.name, [task.uuid for task in held])
    result = compare(held, loaded, walk["walked_from"])
    swept_at = time.time() if sweep.wrapped else previous.get("full_sweep_completed_at")
    metadata = {
        **{name: _metadata(value) for name, value in result.summary().items()},
        "sweep_from": dg.MetadataValue.int(sweep_from),
        "sweep_next_offset": dg.MetadataValue.int(sweep.next_offset),
        "pages_read_back": dg.MetadataValue.int(notes.get("read_back", 0)),
        "shifts_not_read_back": dg.MetadataValue.int(notes.get("possibly_missed", 0)),
        "in_flight_tasks_flower_forgot": dg.MetadataValue.json(notes.get("forgotten_in_flight", [])),
        "values_replaced": dg.MetadataValue.int(notes.get("replaced_values", 0)),
        "values_replaced_sample": dg.MetadataValue.json(notes.get("replaced_samples", [])),
    }
    if swept_at is not None:
        metadata["full_sweep_completed_at"] = dg.MetadataValue.timestamp(swept_at)
    reach = (
        f"all the tasks Flower{of_cluster} holds"
        if sweep_from == 0 and sweep.wrapped
        else f"{result.checked} tasks"
    )
    if result.passed:
        description = (
            f"All {result.checked} tasks checked ({reach}) are in the warehouse, as new as Flower has them."
        )
        return dg.AssetCheckResult(passed=True, metadata=metadata, description=description)
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=(
            f"{len(result.missing)} of the {result.checked} tasks checked ({reach}) are missing from the "
            f"warehouse and {len(result.stale)} are older there than in Flower (samples in the metadata). "
            "Look for a worker clock far behind the loader's (raise SOURCES__FLOWER__LOOKBACK_MINUTES) and for "
            "the walk's notes."
        ),
    )


def previous_check_metadata(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, partition: str | None
) -> dict[str, Any]:
    """The metadata values of the latest finished evaluation of a check (of a partition's, when given; {} before
    any)."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=5, partition_filter=PartitionKeyFilter(key=partition) if partition else None
    )
    for record in history:
        evaluation = record.event and record.event.dagster_event.event_specific_data
        if isinstance(evaluation, dg.AssetCheckEvaluation):
            return {name: value.value for name, value in evaluation.metadata.items()}
    return {}


def _metadata(value: Any) -> dg.MetadataValue:
    return dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.json(value)


def source_freshness(table: str) -> dict[str, float]:
    """warn_after / error_after of a Flower source table in the dbt project (seconds): one place to set them."""
    manifest = json.loads(DBT_MANIFEST.read_text())
    freshness = manifest["sources"][f"source.taskline.flower.{table}"].get("freshness") or {}
    return {
        level: rule["count"] * FRESHNESS_PERIODS_S[rule["period"]]
        for level, rule in freshness.items()
        if isinstance(rule, dict) and rule.get("count")
    }


def newest_task_event(cluster: str) -> datetime | None:
    pipeline = make_pipeline("flower")
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("tasks")
            [(newest,)] = client.execute_sql(
                f'select max("timestamp") from {table} where cluster = %s', cluster
            )
    except DatabaseUndefinedRelation:
        return None
    return newest


FRESHNESS_DESCRIPTION = (
    "A Flower that stopped reporting (workers without -E, Flower restarted without events, a dead "
    "broker) still answers, so loads stay green: this check turns yellow (warn) or red (error) when the "
    "newest task event in the warehouse is older than the freshness set on the `tasks` source in "
    "dbt_project/models/staging/flower/_flower__sources.yml; the age is in its metadata."
)


def freshness(
    context: dg.AssetCheckExecutionContext, cluster: Cluster, clusters: ClusterPartitions
) -> dg.AssetCheckResult:
    of_cluster = clusters.label(cluster.name)
    with reading_in_turn(context.op_execution_context):
        newest = newest_task_event(cluster.name)
    limits = source_freshness("tasks")
    if newest is None:
        return dg.AssetCheckResult(passed=True, description=f"No task{of_cluster} loaded yet.")
    age_s = time.time() - newest.timestamp()
    metadata = {
        "newest_task_event": dg.MetadataValue.timestamp(newest.astimezone(UTC)),
        "age_hours": dg.MetadataValue.float(round(age_s / 3600, 2)),
        **{f"{level}_hours": dg.MetadataValue.float(limit / 3600) for level, limit in limits.items()},
    }
    for level, severity in (
        ("error_after", dg.AssetCheckSeverity.ERROR),
        ("warn_after", dg.AssetCheckSeverity.WARN),
    ):
        if level in limits and age_s > limits[level]:
            return dg.AssetCheckResult(
                passed=False,
                severity=severity,
                metadata=metadata,
                description=(
                    f"The newest task event{of_cluster} is {age_s / 3600:.1f} h old ({level} {limits[level] / 3600:g} h): is "
                    "Flower still receiving events (workers started with -E)?"
                ),
            )
    return dg.AssetCheckResult(
        passed=True,
        metadata=metadata,
        description=f"The newest task event{of_cluster} is {age_s / 3600:.1f} h old.",
    )


def flower_tasks_check(
    clusters: ClusterPartitions,
    key: dg.AssetCheckKey,
    description: str,
    evaluate: Callable[[dg.AssetCheckExecutionContext, Cluster, ClusterPartitions], dg.AssetCheckResult],
) -> dg.AssetChecksDefinition:
    """A check of flower/tasks evaluated for the run's cluster (a partition of an estate's)."""

    @dg.asset_check(
        asset=FLOWER_TASKS,
        name=key.name,
        partitions_def=clusters.partitions,
        config_schema={},  # a launch sets nothing here (definitions.fixed)
        description=description,
    )
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return evaluate(context, clusters.of_run(context), clusters)

    return check


def flower_checks(clusters: ClusterPartitions) -> list[dg.AssetChecksDefinition]:
    """Flower's checks: completeness and freshness per cluster (partitions once there are several), coverage of
    the estate."""
    return [
        flower_tasks_check(clusters, COMPLETENESS_CHECK, COMPLETENESS_DESCRIPTION, completeness),
        flower_tasks_check(clusters, FRESHNESS_CHECK, FRESHNESS_DESCRIPTION, freshness),
        task_attempts_coverage,
    ]
