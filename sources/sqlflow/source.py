"""dlt source for Gudu SQLFlow: jobs, the lineage of finished jobs, and the lineage of local SQL files."""

import glob
import hashlib
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.extract.resource import DltResource

from sources.sqlflow.client import SQLFlowClient
from sources.sqlflow.errors import SQLFlowError
from sources.sqlflow.lineage import normalise_lineage
from sources.sqlflow.tables import LineageTables, job_lineage_columns, jobs_columns, query_lineage_columns

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.gudusoft.com/gspLive_backend"
JOBS_ENDPOINT = "sqlflow/job/displayUserJobsSummary"
JOB_EXPORT_ENDPOINT = "sqlflow/job/exportLineageAsJson"
QUERY_ENDPOINT = "sqlflow/generation/sqlflow"
# vendor clients export on both; `fail` has no lineage and anything else is still running
EXPORTABLE_STATUSES = ("success", "partial_success")
SQLFLOW_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def parse_sqlflow_time(value: Any) -> datetime | None:
    """SQLFlow's `yyyy-MM-dd HH:mm:ss` (server-local, no zone) as a naive datetime."""
    if not value:
        return None
    try:
        return datetime.strptime(str(value), SQLFLOW_TIME_FORMAT)
    except ValueError:
        logger.warning("SQLFlow: unreadable job time %r kept as null", value)
        return None


def job_row(job: dict[str, Any]) -> dict[str, Any]:
    """A job as given (keys snake_cased), times parsed, plus `changed_at` = last execute else create time."""
    row = {snake_case(key): value for key, value in job.items()}
    row["job_id"] = None if row.get("job_id") is None else str(row["job_id"])
    row["create_time"] = parse_sqlflow_time(job.get("createTime"))
    row["last_execute_time"] = parse_sqlflow_time(job.get("lastExecuteTime"))
    row["changed_at"] = row["last_execute_time"] or row["create_time"]
    return row


class JobList:
    """The user's jobs, fetched once per source instance and shared by `jobs` and `job_lineage`."""

    def __init__(self, client: SQLFlowClient):
        self.client = client
        self._rows: list[dict[str, Any]] | None = None

    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            details = self.client.call(JOBS_ENDPOINT, {}).data.get("jobDetails") or []
            if not isinstance(details, list):
                raise SQLFlowError(f"SQLFlow {JOBS_ENDPOINT}: `data.jobDetails` is not a list")
            self._rows = [job_row(job) for job in details if isinstance(job, dict)]
        return self._rows


def match_sql_files(patterns: list[str]) -> list[Path]:
    """Files matched by the glob patterns (`**` recurses), in a stable order, each once."""
    matched: dict[Path, None] = {}
    for pattern in patterns:
        files = sorted(Path(path) for path in glob.glob(pattern, recursive=True) if Path(path).is_file())
        if not files:
            logger.warning("SQLFlow: sql_paths pattern %r matches no file", pattern)
        matched.update(dict.fromkeys(files))
    return list(matched)


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is inside it, else as matched."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def form_bool(value: bool) -> str:
    return "true" if value else "false"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dlt.source(name="sqlflow", section="sqlflow")
def sqlflow_source(
    base_url: str = DEFAULT_BASE_URL,
    user_id: str | None = None,
    secret_key: TSecretStrValue | None = None,
    sql_paths: list[str] | None = None,
    dbvendor: str = "dbvpostgresql",
    show_relation_type: str = "fdd",
    ignore_record_set: bool = True,
    request_timeout: float = 120.0,
) -> tuple[DltResource, ...]:
    """SQLFlow jobs and lineage. Credentials are checked at the first request, not here, so the source can
    be built (e.g. by Dagster at import) without secrets."""
    client = SQLFlowClient(base_url, user_id, secret_key, request_timeout)
    job_list = JobList(client)
    options = {"showRelationType": show_relation_type, "ignoreRecordSet": form_bool(ignore_record_set)}
    return (
        jobs_resource(job_list),
        job_lineage_resource(client, job_list, options),
        query_lineage_resource(client, sql_paths or [], dbvendor, options),
    )


def jobs_resource(job_list: JobList) -> DltResource:
    @dlt.resource(
        name="jobs",
        primary_key="job_id",
        write_disposition="merge",
        columns=jobs_columns(),
        max_table_nesting=0,
        incremental=dlt.sources.incremental("changed_at", on_cursor_value_missing="include"),
    )
    def jobs() -> Iterator[list[dict[str, Any]]]:
        yield job_list.rows()

    return jobs


def job_lineage_resource(client: SQLFlowClient, job_list: JobList, options: dict[str, str]) -> DltResource:
    @dlt.resource(name="job_lineage")
    def job_lineage() -> Iterator[Any]:
        """Lineage of finished jobs that are new or changed since they were last exported (resource state)."""
        exported: dict[str, str | None] = dlt.current.resource_state().setdefault("exported_jobs", {})
        tables = LineageTables("job_lineage", "job_id", job_lineage_columns())
        for job in job_list.rows():
            job_id, changed_at = job["job_id"], job["changed_at"]
            version = changed_at.isoformat() if changed_at else None
            # an empty jobId would silently export the user's latest job instead
            if not job_id or job.get("status") not in EXPORTABLE_STATUSES:
                continue
            if job_id in exported and exported[job_id] == version:
                continue
            envelope = client.lineage(JOB_EXPORT_ENDPOINT, {"jobId": job_id, **options})
            summary = {"job_changed_at": changed_at, "exported_at": utc_now()}
            yield from tables.items(job_id, summary, envelope, normalise_lineage(envelope.data))
            exported[job_id] = version

    return job_lineage


def query_lineage_resource(
    client: SQLFlowClient, sql_paths: list[str], dbvendor: str, options: dict[str, str]
) -> DltResource:
    @dlt.resource(name="query_lineage")
    def query_lineage() -> Iterator[Any]:
        """Lineage of each SQL file, sent again only when its content changed (hash in resource state)."""
        sent: dict[str, str] = dlt.current.resource_state().setdefault("sent_sql_sha256", {})
        tables = LineageTables("query_lineage", "sql_file", query_lineage_columns())
        for path in match_sql_files(sql_paths):
            sql_file, content = display_path(path), path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()
            if sent.get(sql_file) == digest:
                continue
            sql = content.decode("utf-8", errors="replace")
            if not sql.strip():
                logger.warning("SQLFlow: %s is empty, not sent", sql_file)
                continue
            envelope = client.lineage(QUERY_ENDPOINT, {"sqltext": sql, "dbvendor": dbvendor, **options})
            summary = {
                "content_sha256": digest,
                "dbvendor": dbvendor,
                "sent_at": utc_now(),
                "session_id": envelope.session_id,
            }
            yield from tables.items(sql_file, summary, envelope, normalise_lineage(envelope.data))
            sent[sql_file] = digest

    return query_lineage
