"""Asset checks of the SQLFlow loads: lineage SQLFlow could not give, named file by file and job by job."""

from typing import Any

import dagster as dg
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from orchestration.writer import writing_the_warehouse
from sources.warehouse import make_pipeline

# resource → (its asset, its failures table, the key column, what a key is)
FAILURE_TABLES = {
    "job_lineage": ("job_lineage_failures", "job_id", "job"),
    "query_lineage": ("query_lineage_failures", "sql_file", "file"),
}


def open_failures(table: str, key: str) -> list[dict[str, Any]]:
    columns = (key, "code", "message", "attempts", "first_failed_at", "next_attempt_at")
    sql = f"select {', '.join(columns)} from sqlflow.{table} where resolved_at is null order by {key}"
    try:
        with make_pipeline("sqlflow").sql_client() as client:
            return [dict(zip(columns, row, strict=True)) for row in client.execute_sql(sql)]
    except DatabaseUndefinedRelation:  # nothing ever failed
        return []


def failures_result(failures: list[dict[str, Any]], key: str, what: str) -> dg.AssetCheckResult:
    metadata = {
        "missing": dg.MetadataValue.int(len(failures)),
        "failures": dg.MetadataValue.json(
            [
                {name: str(value) if value is not None else None for name, value in row.items()}
                for row in failures
            ]
        ),
    }
    if not failures:
        return dg.AssetCheckResult(
            passed=True, metadata=metadata, description=f"Every {what}'s lineage loaded."
        )
    lines = [
        f"{row[key]}: {row['message']} ({row['attempts']} attempt(s) since {row['first_failed_at']:%Y-%m-%d %H:%M} "
        f"UTC; next after {row['next_attempt_at']:%Y-%m-%d %H:%M} UTC or when it changes)"
        for row in failures
    ]
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=f"{len(failures)} {what}(s) without lineage (their earlier lineage, if any, stays):\n"
        + "\n".join(lines),
    )


def lineage_check(resource: str) -> dg.AssetChecksDefinition:
    table, key, what = FAILURE_TABLES[resource]

    @dg.asset_check(
        asset=dg.AssetKey(["sqlflow", resource]),
        name=f"every_{what}_has_lineage",
        description=(
            f"Warns naming each {what} SQLFlow could not give lineage for (an error code in the answer, HTTP "
            f"5xx after retries, a body that is not lineage, summary mode without detail, a file over query "
            f"mode's 500 KB) and why, from sqlflow.{table}. Such a {what} is tried again at later loads with "
            "back-off (1 h, doubling to a day) and at once when it changes; the others load meanwhile."
        ),
    )
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        with writing_the_warehouse(context.op_execution_context):
            return failures_result(open_failures(table, key), key, what)

    return check


SQLFLOW_CHECKS = [lineage_check("job_lineage"), lineage_check("query_lineage")]
