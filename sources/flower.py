"""dlt source for Flower, Celery's monitoring API: tasks, workers, task types and queue lengths.

Pure dlt (no Dagster). Flower keeps tasks in memory only and forgets them on restart, so the warehouse is the
durable history: tasks are merged on `uuid` and never deleted; workers and queue lengths are snapshots.
"""

import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import dlt
import pyarrow as pa
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client, RequestException, Response
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth, HttpBasicAuth

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:5555"
BASIC_AUTH_SETTINGS = "SOURCES__FLOWER__USERNAME/SOURCES__FLOWER__PASSWORD"
TOKEN_SETTING = "SOURCES__FLOWER__TOKEN"
BASE_URL_SETTING = "SOURCES__FLOWER__BASE_URL"
ERROR_EXCERPT_CHARS = 200
# Task pages go to dlt as Arrow tables: written as parquet, they skip dlt's row-by-row normalisation and
# DuckDB reads them natively (20,000 tasks: ~2.9 s against ~5.5 s as jsonl rows, and flat memory).
# dlt adds its _dlt_load_id / _dlt_id columns to Arrow data only when its parquet normaliser is told to;
# that setting is global, so the source sets it (unless the environment already does), whatever the cwd.
ARROW_ROW_COLUMNS_SETTINGS = (
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID",
)
ARROW_TYPES = {
    "text": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "json": pa.list_(pa.string()),  # children: a list of task uuids
}

# Flower sends every task time as epoch seconds except eta/expires, which are ISO strings.
EPOCH_FIELDS = (
    "received",
    "sent",
    "started",
    "succeeded",
    "failed",
    "retried",
    "revoked",
    "rejected",
    "timestamp",
)
ISO_FIELDS = ("eta", "expires")
# Python reprs of the call and its return value: they may carry personal data.
PAYLOAD_FIELDS = ("args", "kwargs", "result")


def _columns(**types: str) -> dict[str, dict[str, Any]]:
    """Explicit column types, so a column whose values are all null still gets a stable type."""
    return {name: {"data_type": data_type, "nullable": True} for name, data_type in types.items()}


TASK_COLUMNS = _columns(
    uuid="text",
    name="text",
    state="text",
    **dict.fromkeys(EPOCH_FIELDS + ISO_FIELDS, "timestamp"),
    runtime="double",
    retries="bigint",
    worker="text",
    **dict.fromkeys(PAYLOAD_FIELDS, "text"),
    exception="text",
    traceback="text",
    exchange="text",
    routing_key="text",
    clock="bigint",
    client="text",
    root="text",
    root_id="text",
    parent="text",
    parent_id="text",
    children="json",
)
TASK_COLUMNS["uuid"]["nullable"] = False
# Flower may list one task twice while we page; the version with the latest event wins the merge.
TASK_COLUMNS["timestamp"]["dedup_sort"] = "desc"


def _task_columns(include_payloads: bool) -> dict[str, dict[str, Any]]:
    if include_payloads:
        return TASK_COLUMNS
    return {name: hints for name, hints in TASK_COLUMNS.items() if name not in PAYLOAD_FIELDS}


WORKER_COLUMNS = _columns(
    snapshot_at="timestamp",
    worker="text",
    is_online="bool",
    heartbeat_at="timestamp",
    pid="bigint",
    uptime_s="bigint",
    pool_implementation="text",
    pool_max_concurrency="bigint",
    pool_processes="bigint",
    prefetch_count="bigint",
    processed_total="bigint",
    processed_by_task="json",
    queues="text",
    registered_tasks="text",
    active_tasks="bigint",
    reserved_tasks="bigint",
    scheduled_tasks="bigint",
    cpu_user_s="double",
    cpu_system_s="double",
    max_rss_kb="bigint",
    broker_transport="text",
)
TASK_TYPE_COLUMNS = _columns(name="text", last_seen_at="timestamp")
QUEUE_LENGTH_COLUMNS = _columns(snapshot_at="timestamp", queue="text", messages="bigint")


class FlowerError(RuntimeError):
    """Flower could not be read; the message names the endpoint, the status and what to fix."""


class FlowerConfigError(FlowerError):
    """The source is missing settings it needs (credentials)."""


class FlowerAuthError(FlowerError):
    """Flower rejected the credentials (HTTP 401)."""


class FlowerUnreachableError(FlowerError):
    """No HTTP answer from Flower after the configured retries."""


class FlowerApi:
    """One Flower server. The HTTP client is built at the first request, so a source can be created (e.g. by
    the Dagster definitions at import) before secrets are configured."""

    def __init__(
        self,
        base_url: str,
        username: str | None,
        password: str | None,
        token: str | None,
        request_timeout: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._token = token
        self._request_timeout = request_timeout
        self._client: RESTClient | None = None
        self._max_attempts = 1

    def get_object(
        self, path: str, params: dict[str, Any] | None = None, absent_ok: bool = False
    ) -> dict[str, Any] | None:
        """GET `path` and return its JSON object (every Flower endpoint read here answers one); None for a
        404 when `absent_ok`. Raises FlowerError."""
        endpoint = f"/{path}?{urlencode(params)}" if params else f"/{path}"
        client = self._client or self._connect()
        try:
            response = client.get(path, params=params)
        except RequestException as error:  # refused, timed out, dropped: after dlt's bounded retries
            raise FlowerUnreachableError(
                f"cannot reach Flower at {self.base_url} (GET {endpoint}) after {self._max_attempts} "
                f"attempt(s): {_network_reason(error)}. Is Flower running? Check {BASE_URL_SETTING}."
            ) from None
        if response.status_code == 404 and absent_ok:
            return None
        self._raise_for_status(response, endpoint)
        body = self._parse_json(response, endpoint)
        if not isinstance(body, dict):
            raise FlowerError(
                f"Flower at {self.base_url} answered GET {endpoint} with a JSON {type(body).__name__}, "
                f"expected an object: {_excerpt(response)}. Check {BASE_URL_SETTING} points at Flower."
            )
        return body

    def _connect(self) -> RESTClient:
        runtime = resolve_configuration(RuntimeConfiguration())
        self._max_attempts = runtime.request_max_attempts
        # dlt's client retries 429/5xx, timeouts and refused connections with exponential backoff,
        # bounded by [runtime] request_max_attempts (RUNTIME__REQUEST_MAX_ATTEMPTS).
        session = Client(
            request_timeout=self._request_timeout,
            raise_for_status=False,
            request_max_attempts=runtime.request_max_attempts,
            request_backoff_factor=runtime.request_backoff_factor,
            request_max_retry_delay=runtime.request_max_retry_delay,
        ).session
        self._client = RESTClient(base_url=self.base_url, auth=self._auth(), session=session)
        return self._client

    def _auth(self) -> BearerTokenAuth | HttpBasicAuth:
        if self._token:
            return BearerTokenAuth(token=self._token)
        if self._username and self._password:
            return HttpBasicAuth(username=self._username, password=self._password)
        raise FlowerConfigError(
            f"Flower credentials are not configured for {self.base_url}: set {BASIC_AUTH_SETTINGS} "
            f"(Flower's --basic_auth user and password), or {TOKEN_SETTING} when a proxy in front of Flower "
            "checks a bearer token; or put them under [sources.flower] in .dlt/secrets.toml."
        )

    def _raise_for_status(self, response: Response, endpoint: str) -> None:
        status = response.status_code
        if status == 401:
            settings = TOKEN_SETTING if self._token else BASIC_AUTH_SETTINGS
            raise FlowerAuthError(
                f"Flower at {self.base_url} rejected the credentials (HTTP 401) for {endpoint}: "
                f"check {settings}"
            )
        if status < 400:
            return
        hint = f" Check {BASE_URL_SETTING} points at Flower." if status == 404 else ""
        retried = f" after {self._max_attempts} attempt(s)" if status == 429 or status >= 500 else ""
        raise FlowerError(
            f"Flower at {self.base_url} answered HTTP {status}{retried} for GET {endpoint}: "
            f"{_excerpt(response)}.{hint}"
        )

    def _parse_json(self, response: Response, endpoint: str) -> Any:
        try:
            return response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type", "no Content-Type")
            raise FlowerError(
                f"Flower at {self.base_url} returned a non-JSON body for GET {endpoint} "
                f"(HTTP {response.status_code}, {content_type}): {_excerpt(response)}. "
                f"Check {BASE_URL_SETTING} points at Flower's API."
            ) from None


def _excerpt(response: Response) -> str:
    text = " ".join(response.text.split())
    if not text:
        return "(empty body)"
    return repr(text[:ERROR_EXCERPT_CHARS] + ("…" if len(text) > ERROR_EXCERPT_CHARS else ""))


def _network_reason(error: Exception) -> str:
    """The useful tail of a requests error ('[Errno 111] Connection refused'), not its urllib3 wrapping."""
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", str(error))
    return errno.group(0).strip() if errno else type(error).__name__


def _from_epoch(value: Any) -> Any:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else value


def _from_iso(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def task_row(task: dict[str, Any], include_payloads: bool) -> dict[str, Any]:
    """One Flower task as a warehouse row: every field kept (unknown ones too), times as UTC datetimes."""
    row = dict(task)
    for field in EPOCH_FIELDS:
        row[field] = _from_epoch(row.get(field))
    for field in ISO_FIELDS:
        row[field] = _from_iso(row.get(field))
    if not include_payloads:
        for field in PAYLOAD_FIELDS:
            row.pop(field, None)
    return row


def task_table(rows: list[dict[str, Any]], columns: dict[str, dict[str, Any]]) -> pa.Table:
    """A page of task rows as an Arrow table: known columns typed as declared, so every page has the same
    schema; fields Flower adds in a later version are kept as text."""
    known = pa.schema(
        [
            pa.field(name, ARROW_TYPES[hints["data_type"]], hints["nullable"])
            for name, hints in columns.items()
        ]
    )
    table = pa.Table.from_pylist(rows, schema=known)  # keys outside the schema are left out here ...
    for name in sorted({key for row in rows for key in row} - set(columns)):  # ... and added back as text
        table = table.append_column(name, pa.array([_as_text(row.get(name)) for row in rows], pa.string()))
    return table


def _as_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value, default=str)


def _task_pages(api: FlowerApi, page_size: int) -> Iterator[list[dict[str, Any]]]:
    """Flower's default order (last event first), one page at a time: a full dump would stall Flower."""
    offset = 0
    while True:
        body = api.get_object("api/tasks", {"limit": page_size, "offset": offset})
        page = [{"uuid": uuid, **task} for uuid, task in body.items()]
        yield page
        if len(page) < page_size:
            return
        offset += page_size


def _event_time(task: dict[str, Any]) -> float | None:
    timestamp = task.get("timestamp")
    return timestamp if isinstance(timestamp, int | float) else None


def _below(task: dict[str, Any], stop_below: float | None) -> bool:
    time = _event_time(task)
    return stop_below is not None and time is not None and time < stop_below


def changed_tasks(
    api: FlowerApi, page_size: int, lookback_minutes: float, include_payloads: bool
) -> Iterator[pa.Table]:
    """Tasks whose last event is at or after (newest event loaded before - lookback window).

    Flower has no server-side filter on a task's last change, but lists tasks by last event, newest first:
    walk that order page by page and stop at the first task below the line (or at a short page). The
    window absorbs late events and clock skew; re-read tasks merge on uuid, so they never duplicate.
    """
    state = dlt.current.resource_state("tasks")
    cursor = state.get("last_event_at")  # epoch seconds of the newest task event loaded so far
    stop_below = cursor - lookback_minutes * 60 if cursor is not None else None
    newest_seen: dict[str, float] = {}
    for page in _task_pages(api, page_size):
        changed = [task for task in page if not _below(task, stop_below)]
        if changed:
            state["last_event_at"] = _newest_event(changed, state.get("last_event_at"))
            rows = [
                task_row(task, include_payloads) for task in changed if _first_or_newer(task, newest_seen)
            ]
            yield task_table(rows, _task_columns(include_payloads))
        if len(changed) < len(page):  # everything after this task lies below the line too
            return


def _newest_event(page: list[dict[str, Any]], newest_so_far: float | None) -> float | None:
    times = [time for time in map(_event_time, page) if time is not None]
    return max(times + ([newest_so_far] if newest_so_far is not None else []), default=None)


def _first_or_newer(task: dict[str, Any], newest_seen: dict[str, float]) -> bool:
    """Paging while Flower receives events can list a task on two pages: keep only its newest version."""
    event_time = _event_time(task) or 0.0
    previous = newest_seen.get(task["uuid"])
    if previous is not None and previous >= event_time:
        return False
    newest_seen[task["uuid"]] = event_time
    return True


def task_details(tasks: pa.Table, api: FlowerApi, include_payloads: bool) -> Iterator[pa.Table]:
    """Each task of a `tasks` page again, from /api/task/info/<uuid>.

    Off by default: it costs one HTTP call per task (an N+1 against a single-threaded Flower) and the answer
    holds nothing that /api/tasks lacks. Enable it (with_task_info=true) only to cross-check the list.
    """
    rows = []
    for uuid in tasks.column("uuid").to_pylist():
        info = api.get_object(f"api/task/info/{uuid}", absent_ok=True)
        if info is None:
            logger.warning("Flower no longer knows task %s (evicted or restarted); skipping its info", uuid)
            continue
        rows.append(task_row({"uuid": uuid, **info}, include_payloads))
    yield task_table(rows, _task_columns(include_payloads))


def _joined(names: list[str] | None) -> str | None:
    return ",".join(sorted(names)) if names is not None else None


def _count(items: list[Any] | None) -> int | None:
    return len(items) if items is not None else None


def worker_row(
    name: str, info: dict[str, Any], is_online: bool | None, snapshot_at: datetime
) -> dict[str, Any]:
    """One worker of one snapshot, flattened. `conf` is left out: it may hold broker settings."""
    stats = info.get("stats") or {}
    pool = stats.get("pool") or {}
    rusage = stats.get("rusage") or {}
    processed = stats.get("total")
    queues = info.get("active_queues")
    return {
        "snapshot_at": snapshot_at,
        "worker": name,
        "is_online": is_online,
        "heartbeat_at": _from_epoch(info.get("timestamp")),
        "pid": stats.get("pid"),
        "uptime_s": stats.get("uptime"),
        "pool_implementation": pool.get("implementation"),
        "pool_max_concurrency": pool.get("max-concurrency"),
        "pool_processes": _count(pool.get("processes")),
        "prefetch_count": stats.get("prefetch_count"),
        "processed_total": sum(processed.values()) if processed is not None else None,
        "processed_by_task": processed,
        "queues": _joined([queue["name"] for queue in queues] if queues is not None else None),
        "registered_tasks": _joined(info.get("registered")),
        "active_tasks": _count(info.get("active")),
        "reserved_tasks": _count(info.get("reserved")),
        "scheduled_tasks": _count(info.get("scheduled")),
        "cpu_user_s": rusage.get("utime"),
        "cpu_system_s": rusage.get("stime"),
        "max_rss_kb": rusage.get("maxrss"),
        "broker_transport": (stats.get("broker") or {}).get("transport"),
    }


def worker_snapshot(api: FlowerApi) -> Iterator[list[dict[str, Any]]]:
    """Every worker Flower knows, now: inspect replies (refreshed) joined with online status from events.

    Flower inspects a worker's task lists (active, reserved, scheduled: its load) only when asked for that
    one worker, so each online worker costs one more call.
    """
    snapshot_at = _now()
    workers = api.get_object("api/workers", {"refresh": 1})
    online = api.get_object("api/workers", {"status": 1})
    for name in sorted(name for name, alive in online.items() if alive):
        one = api.get_object("api/workers", {"workername": name, "refresh": 1}, absent_ok=True) or {}
        workers[name] = {**workers.get(name, {}), **one.get(name, {})}
    yield [
        worker_row(name, workers.get(name) or {}, online.get(name), snapshot_at)
        for name in sorted(set(workers) | set(online))
    ]


def seen_task_types(api: FlowerApi) -> Iterator[list[dict[str, Any]]]:
    seen_at = _now()
    body = api.get_object("api/task/types")
    yield [{"name": name, "last_seen_at": seen_at} for name in body.get("task-types") or []]


def queue_lengths(api: FlowerApi) -> Iterator[list[dict[str, Any]]]:
    """Messages waiting per active queue: a gauge, kept as timestamped snapshots to build a history."""
    snapshot_at = _now()
    body = api.get_object("api/queues/length", absent_ok=True)
    if body is None:
        logger.warning(
            "Flower at %s has no queue lengths (HTTP 404 for /api/queues/length: its broker transport "
            "does not report them); queues_length gets no rows",
            api.base_url,
        )
        return
    queues = body.get("active_queues") or []
    yield [
        {"snapshot_at": snapshot_at, "queue": queue["name"], "messages": queue["messages"]}
        for queue in queues
    ]


@dlt.source(name="flower", section="flower")
def flower_source(
    base_url: str = DEFAULT_BASE_URL,
    username: str | None = dlt.secrets.value,
    password: str | None = dlt.secrets.value,
    token: str | None = dlt.secrets.value,
    page_size: int = 1000,
    lookback_minutes: float = 10,
    include_payloads: bool = True,
    with_task_info: bool = False,
    request_timeout: float = 30,
) -> list[DltResource]:
    """Flower's tasks (incremental, merged on uuid), worker and queue snapshots, and the task names seen.

    Settings resolve from SOURCES__FLOWER__<NAME> or [sources.flower]; credentials are checked at the first
    request. A bearer `token`, when set, is sent instead of basic auth (for a proxy in front of Flower).
    """
    for setting in ARROW_ROW_COLUMNS_SETTINGS:
        os.environ.setdefault(setting, "true")
    if page_size < 1:
        raise ValueError(f"Flower page_size must be at least 1, got {page_size} (SOURCES__FLOWER__PAGE_SIZE)")
    api = FlowerApi(base_url, username, password, token, request_timeout)
    tasks = dlt.resource(
        changed_tasks(api, page_size, lookback_minutes, include_payloads),
        name="tasks",
        write_disposition="merge",
        primary_key="uuid",
        columns=_task_columns(include_payloads),
    )
    resources = [
        tasks,
        dlt.resource(
            worker_snapshot(api), name="workers", write_disposition="append", columns=WORKER_COLUMNS
        ),
        dlt.resource(
            seen_task_types(api),
            name="task_types",
            write_disposition="merge",
            primary_key="name",
            columns=TASK_TYPE_COLUMNS,
        ),
        dlt.resource(
            queue_lengths(api), name="queues_length", write_disposition="append", columns=QUEUE_LENGTH_COLUMNS
        ),
    ]
    if with_task_info:
        info = dlt.transformer(
            task_details,
            name="task_info",
            write_disposition="merge",
            primary_key="uuid",
            columns=_task_columns(include_payloads),
        )
        resources.append(tasks | info(api=api, include_payloads=include_payloads))
    return resources
