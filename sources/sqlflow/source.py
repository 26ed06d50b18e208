"""dlt source for Gudu SQLFlow: jobs, the lineage of finished jobs, and the lineage of local SQL files."""

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.extract.resource import DltResource

from sources.sqlflow.client import SQLFlowClient
from sources.sqlflow.envelope import SUMMARY_MODE, Envelope
from sources.sqlflow.errors import SQLFlowAuthError, SQLFlowConfigError, SQLFlowError, SQLFlowUnreachableError
from sources.sqlflow.failures import FailureLog
from sources.sqlflow.lineage import LINEAGE_KEYS, has_lineage, normalise_lineage
from sources.sqlflow.run_counts import fresh_run_counts
from sources.sqlflow.settings import SQLFlowSettings
from sources.sqlflow.sql_files import match_sql_files
from sources.sqlflow.tables import LineageTables, job_lineage_columns, jobs_columns, query_lineage_columns

logger = logging.getLogger(__name__)

JOBS_ENDPOINT = "sqlflow/job/displayUserJobsSummary"
JOB_EXPORT_ENDPOINT = "sqlflow/job/exportLineageAsJson"
QUERY_ENDPOINT = "sqlflow/generation/sqlflow"
# vendor clients export on both; `fail` has no lineage and anything else is still running
EXPORTABLE_STATUSES = ("success", "partial_success")
SQLFLOW_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Gudu documents query mode (/generation/sqlflow) for SQL text of at most 500 KB
QUERY_MODE_MAX_BYTES = 500 * 1024


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


def export_version(changed_at: datetime | None, status: str) -> str:
    """What makes a job's lineage worth exporting again: a re-run within the same second keeps its time
    but may change its status (success <-> partial_success)."""
    return f"{changed_at.isoformat() if changed_at else None} {status}"


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


def with_detail(envelope: Envelope) -> Envelope:
    """The answer, when it carries lineage in detail: one in summary mode (relation limit exceeded) is no
    lineage yet, never recorded as done."""
    if envelope.mode == SUMMARY_MODE:
        raise SQLFlowError(
            f"SQLFlow {envelope.endpoint} answered in summary mode (relation limit exceeded): no column-level "
            "detail. Split the SQL, or raise the server's relation limit.",
            code=SUMMARY_MODE,
        )
    return envelope


def with_lineage(envelope: Envelope, subject: str) -> Envelope:
    """The answer, when it carries lineage (empty for SQL without data flow): a code-200 answer without any
    (e.g. `{"status": "queued"}`) is no lineage yet, a failure of `subject` tried again later, never stored
    as an empty load."""
    if has_lineage(envelope.data):
        return envelope
    keys = ", ".join(sorted(envelope.data)) or "nothing"
    status = envelope.data.get("status")
    holds = keys + (f"; status {status!r}" if status is not None else "")
    missing = ", ".join(f"`{key}`" for key in LINEAGE_KEYS[:-1]) + f" or `{LINEAGE_KEYS[-1]}`"
    raise SQLFlowError(
        f"SQLFlow {envelope.endpoint} answered code {envelope.code} for {subject} without lineage: no "
        f"{missing} in its data (it holds {holds}). Tried again after the back-off, or at once when it changes.",
        code="no_lineage",
    )


def job_options(job: dict[str, Any], options: dict[str, str]) -> dict[str, str]:
    """The export options of a job: its own, fixed when it was created (SQLFlow cannot change them), where
    it gives them."""
    return {
        "showRelationType": job.get("show_relation_type") or options["showRelationType"],
        "ignoreRecordSet": (
            options["ignoreRecordSet"]
            if job.get("ignore_record_set") is None
            else form_bool(bool(job["ignore_record_set"]))
        ),
    }


def options_differing(job_id: str, own: dict[str, str], options: dict[str, str]) -> str | None:
    """How a job's own options differ from the source's settings (logged), or None."""
    differing = [
        f"{name} {value} (the source's: {options[name]})"
        for name, value in own.items()
        if value != options[name]
    ]
    if not differing:
        return None
    text = ", ".join(differing)
    logger.warning("SQLFlow: job %s was created with %s: exported with its own", job_id, text)
    return text


def skipped(counts: dict[str, int], unchanged: bool, due: bool) -> bool:
    """Whether a file or job is left out this run (counted): loaded before as it is, or failed and
    waiting for its back-off."""
    if unchanged or not due:
        counts["unchanged" if unchanged else "backed_off"] += 1
        return True
    return False


def too_large(sql_file: str, content: bytes) -> SQLFlowError | None:
    """The error of a file over what query mode takes (never sent), or None."""
    if len(content) <= QUERY_MODE_MAX_BYTES:
        return None
    return SQLFlowError(
        f"SQLFlow: {sql_file} is {len(content):,} bytes, over the {QUERY_MODE_MAX_BYTES:,} query "
        "mode takes: not sent. Split it, or submit it as a SQLFlow job.",
        code="too_large",
    )


def lineage_or_error(subject: str, fetch: Callable[[], Envelope]) -> Envelope | SQLFlowError:
    """What `fetch` answers for `subject` (a job or a SQL file) when it carries lineage in detail, else the
    error that leaves this one subject for a later run (logged). An unreachable server, refused credentials
    or wrong settings stop the run instead: every other call would fail alike (a read timeout is not among
    them: a heavy file fails alone)."""
    try:
        return with_lineage(with_detail(fetch()), subject)
    except (SQLFlowUnreachableError, SQLFlowAuthError, SQLFlowConfigError):
        raise
    except SQLFlowError as error:
        logger.warning("SQLFlow: %s: no lineage this run, tried again later: %s", subject, error)
        return error


def failed(counts: dict[str, int], failures: FailureLog, key: str, version: str, error: SQLFlowError) -> Any:
    """The failure of one job or file this run, counted: the row that records it (and its back-off)."""
    counts["failed"] += 1
    return failures.failed(key, version, error)


def form_bool(value: bool) -> str:
    return "true" if value else "false"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dlt.source(name="sqlflow", section="sqlflow", spec=SQLFlowSettings)
def sqlflow_source(
    base_url: str = dlt.config.value,
    user_id: TSecretStrValue | None = dlt.secrets.value,
    secret_key: TSecretStrValue | None = dlt.secrets.value,
    sql_paths: list[str] | None = dlt.config.value,
    dbvendor: str = dlt.config.value,
    show_relation_type: str = dlt.config.value,
    ignore_record_set: bool = dlt.config.value,
    request_timeout: float = dlt.config.value,
    ignore_user_token: bool = dlt.config.value,
    settings: SQLFlowSettings = dlt.config.value,
) -> tuple[DltResource, ...]:
    """SQLFlow jobs and lineage. dlt resolves `settings` (SQLFlowSettings: the types and defaults) from
    SOURCES__SQLFLOW__<NAME> or [sources.sqlflow]; the parameters before it are only there so a caller can
    set one by name. Credentials are
    checked at the first request, not here, so the source can be built (e.g. by Dagster at import) without
    secrets. `ignore_user_token`: the server is set so (a self-hosted SQLFlow 6.1.0.1+) and needs no
    credentials."""
    client = SQLFlowClient(
        settings.base_url,
        settings.user_id,
        settings.secret_key,
        settings.request_timeout,
        settings.ignore_user_token,
    )
    job_list = JobList(client)
    options = {
        "showRelationType": settings.show_relation_type,
        "ignoreRecordSet": form_bool(settings.ignore_record_set),
    }
    return (
        jobs_resource(job_list),
        job_lineage_resource(client, job_list, options),
        query_lineage_resource(client, settings.sql_paths or [], settings.dbvendor, options),
    )


def jobs_resource(job_list: JobList) -> DltResource:
    @dlt.resource(
        name="jobs",
        primary_key="job_id",
        write_disposition="merge",
        columns=jobs_columns(),
        max_table_nesting=0,
    )
    def jobs() -> Iterator[list[dict[str, Any]]]:
        """Every job, every run: the endpoint always lists them all, and `changed_at` is a zone-less local
        time (a status change keeps it, a DST fall-back repeats it), so no cursor could be trusted."""
        yield job_list.rows()

    return jobs


def job_lineage_resource(client: SQLFlowClient, job_list: JobList, options: dict[str, str]) -> DltResource:
    @dlt.resource(name="job_lineage")
    def job_lineage() -> Iterator[Any]:
        """Lineage of finished jobs that are new or changed (time or status) since they were last exported
        (resource state)."""
        state = dlt.current.resource_state()
        exported: dict[str, str] = state.setdefault("exported_jobs", {})
        tables = LineageTables("job_lineage", "job_id", job_lineage_columns())
        failures = FailureLog(state, "job_lineage_failures", "job_id", utc_now())
        counts = fresh_run_counts(state)
        for job in job_list.rows():
            job_id, changed_at, status = job["job_id"], job["changed_at"], job.get("status")
            # an empty jobId would silently export the user's latest job instead
            if not job_id or status not in EXPORTABLE_STATUSES:
                continue
            version = export_version(changed_at, status)
            if skipped(counts, exported.get(job_id) == version, failures.due(job_id, version)):
                continue
            counts["sent"] += 1
            own = job_options(job, options)
            form = {"jobId": job_id, **own}
            envelope = lineage_or_error(
                f"job {job_id}", partial(client.call, JOB_EXPORT_ENDPOINT, form, for_one_item=True)
            )
            if isinstance(envelope, SQLFlowError):
                yield failed(counts, failures, job_id, version, envelope)
                continue
            summary = {
                "job_changed_at": changed_at,
                "exported_at": utc_now(),
                "options_differing": options_differing(job_id, own, options),
            }
            yield from tables.items(job_id, summary, envelope, normalise_lineage(envelope.data))
            exported[job_id] = version
            counts["loaded"] += 1
            if resolved := failures.resolve(job_id):
                yield resolved

    return job_lineage


def query_lineage_resource(
    client: SQLFlowClient, sql_paths: list[str], dbvendor: str, options: dict[str, str]
) -> DltResource:
    @dlt.resource(name="query_lineage")
    def query_lineage() -> Iterator[Any]:
        """Lineage of each SQL file, sent again only when its content changed (hash in resource state); the
        lineage of a file sent before that no longer matches (or is empty now) is retired."""
        state = dlt.current.resource_state()
        sent: dict[str, str] = state.setdefault("sent_sql_sha256", {})
        tables = LineageTables("query_lineage", "sql_file", query_lineage_columns())
        failures = FailureLog(state, "query_lineage_failures", "sql_file", utc_now())
        counts = fresh_run_counts(state)
        current: set[str] = set()
        emptied: set[str] = set()
        for sql_file, path in match_sql_files(sql_paths).items():
            content = path.read_bytes()
            sql = content.decode("utf-8", errors="replace")
            if not sql.strip():
                logger.warning("SQLFlow: %s is empty, not sent", sql_file)
                emptied.add(sql_file)
                continue
            current.add(sql_file)
            digest = hashlib.sha256(content).hexdigest()
            if skipped(counts, sent.get(sql_file) == digest, failures.due(sql_file, digest)):
                continue
            if error := too_large(sql_file, content):
                logger.warning("%s", error)
                yield failed(counts, failures, sql_file, digest, error)
                continue
            counts["sent"] += 1
            form = {"sqltext": sql, "dbvendor": dbvendor, **options}
            envelope = lineage_or_error(sql_file, partial(client.lineage, QUERY_ENDPOINT, form))
            if isinstance(envelope, SQLFlowError):
                yield failed(counts, failures, sql_file, digest, envelope)
                continue
            summary = {
                "content_sha256": digest,
                "dbvendor": dbvendor,
                "sent_at": utc_now(),
                "session_id": envelope.session_id,
            }
            yield from tables.items(sql_file, summary, envelope, normalise_lineage(envelope.data))
            sent[sql_file] = digest
            counts["loaded"] += 1
            if resolved := failures.resolve(sql_file):
                yield resolved
        yield from retired_files(current, emptied, sent, failures, tables)

    return query_lineage


def retired_files(
    current: set[str], emptied: set[str], sent: dict[str, str], failures: FailureLog, tables: LineageTables
) -> Iterator[Any]:
    """Files sent before that are gone from this run (deleted, emptied, no longer matched): their failures
    resolved, their lineage retired from the marts."""
    for sql_file in [sql_file for sql_file in failures.open if sql_file not in current]:
        yield failures.resolve(sql_file)  # deleted or emptied: nothing left to fail
    gone = [sql_file for sql_file in sent if sql_file not in current]
    for sql_file in gone:
        reason = "is empty now" if sql_file in emptied else "no longer matches sql_paths"
        logger.warning("SQLFlow: %s %s: its lineage is retired from the marts", sql_file, reason)
        del sent[sql_file]  # sent again, and so un-retired, if it comes back
    if gone:
        yield from tables.retired_items(gone, utc_now())
