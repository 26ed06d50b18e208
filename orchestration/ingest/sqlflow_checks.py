"""Asset checks of the SQLFlow loads: lineage SQLFlow could not give, named file by file and job by job."""

from typing import Any

import dagster as dg

from orchestration.runs.writer import reading_in_turn
from orchestration.warehouse.pipelines import query_records

# resource → (its asset, its failures table, the key column, what a key is)
FAILURE_TABLES = {
    "job_lineage": ("job_lineage_failures", "job_id", "job"),
    "query_lineage": ("query_lineage_failures", "sql_file", "file"),
}


def open_failures(table: str, key: str) -> list[dict[str, Any]]:
    columns = (key, "code", "message", "attempts", "first_failed_at", "next_attempt_at")
    return query_records(
        f"select {', '.join(columns)} from sqlflow.{table} where resolved_at is null order by {key}",
        columns,
        dataset="sqlflow",
    )


def jobs_with_own_options() -> list[dict[str, Any]]:
    """Jobs last exported with options of their own, other than the source's settings."""
    columns = ("job_id", "options_differing")
    return query_records(
        "select job_id, options_differing from sqlflow.job_lineage where options_differing is not null "
        "order by job_id",
        columns,
        dataset="sqlflow",
    )


def as_json(rows: list[dict[str, Any]]) -> dg.MetadataValue:
    return dg.MetadataValue.json(
        [{name: str(value) if value is not None else None for name, value in row.items()} for row in rows]
    )


def failures_result(
    failures: list[dict[str, Any]], key: str, what: str, own_options: list[dict[str, Any]] = ()
) -> dg.AssetCheckResult:
    metadata = {"missing": dg.MetadataValue.int(len(failures)), "failures": as_json(failures)}
    if own_options:
        metadata["jobs_with_own_options"] = as_json(own_options)
    if not failures and not own_options:
        return dg.AssetCheckResult(
            passed=True, metadata=metadata, description=f"Every {what}'s lineage loaded."
        )
    lines = []
    if failures:
        lines.append(f"{len(failures)} {what}(s) without lineage (their earlier lineage, if any, stays):")
        lines += [
            f"{row[key]}: {row['message']} ({row['attempts']} attempt(s) since "
            f"{row['first_failed_at']:%Y-%m-%d %H:%M} UTC; next after {row['next_attempt_at']:%Y-%m-%d %H:%M} "
            "UTC or when it changes)"
            for row in failures
        ]
    if own_options:
        lines.append(
            f"{len(own_options)} job(s) created with other lineage options than the source's (SQLFlow cannot "
            "change them; recreate the job to):"
        )
        lines += [f"{row['job_id']}: {row['options_differing']}" for row in own_options]
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=metadata, description="\n".join(lines)
    )


def lineage_check(resource: str) -> dg.AssetChecksDefinition:
    table, key, what = FAILURE_TABLES[resource]

    @dg.asset_check(
        asset=dg.AssetKey(["sqlflow", resource]),
        name=f"every_{what}_has_lineage",
        config_schema={},  # a launch sets nothing here (definitions.fixed)
        description=(
            f"Warns naming each {what} SQLFlow could not give lineage for (an error code in the answer, HTTP "
            f"5xx after retries, a body that is not lineage, a code-200 answer without any lineage in it, no "
            f"answer within the read timeout, summary mode without detail, a file over query mode's 500 KB) "
            f"and why, from sqlflow.{table}. Such a {what} is tried again at later loads with "
            "back-off (1 h, doubling to a day) and at once when it changes; the others load meanwhile."
            + (
                " Also names the jobs created with other lineage options than the source's settings."
                if resource == "job_lineage"
                else ""
            )
        ),
    )
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        with reading_in_turn(context.op_execution_context):
            own_options = jobs_with_own_options() if resource == "job_lineage" else []
            return failures_result(open_failures(table, key), key, what, own_options)

    return check


SQLFLOW_CHECKS = [lineage_check("job_lineage"), lineage_check("query_lineage")]
