"""Asset checks that read the warehouse after dbt: the loss Flower cannot show."""

from datetime import datetime

import dagster as dg
import duckdb

from orchestration.ingest import WAREHOUSE_POOL
from sources.warehouse import warehouse_path

COVERAGE_MART = dg.AssetKey(["marts", "task_coverage_hourly"])

# one row per worker: the snapshot interval that ends at the latest workers snapshot
LATEST_INTERVALS_SQL = """
    select worker, snapshot_at, attempts_processed, attempts_loaded, attempts_lost
    from intermediate.int_worker_interval_coverage
    where ends_at_latest_snapshot
    order by worker
"""


@dg.asset_check(
    asset=COVERAGE_MART,
    name="task_attempts_coverage",
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
    pool=WAREHOUSE_POOL,
)
def task_attempts_coverage() -> dg.AssetCheckResult:
    return coverage_result(latest_intervals())


def latest_intervals() -> list[tuple[str, datetime, int, int, int]]:
    path = warehouse_path()
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.sql(LATEST_INTERVALS_SQL).fetchall()
    except duckdb.IOException as error:
        raise dg.Failure(f"The coverage check cannot read the DuckDB warehouse {path}: {error}") from None


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
