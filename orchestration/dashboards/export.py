"""The dashboards' data: what the pages show, read from the marts during a reader's turn and written to one
DuckDB file the Evidence build reads (dashboards/sources/taskline/). Its tables are a contract with the pages
(dashboards/README.md lists them); every table exists, empty when the warehouse has nothing for it.

The same queries run on DuckDB and PostgreSQL, so the pages are the same on both. Nothing here reads a task's
arguments, keyword arguments or result: the marts hold none.
"""

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from orchestration.alerts import check, operations
from orchestration.alerts.check import owned_alerts
from orchestration.warehouse.engine import is_postgres, warehouse_path
from orchestration.warehouse.pipelines import query_rows

HOURLY_DAYS = 7
DAILY_DAYS = 30
HISTORY_DAYS = 90
RECENT_FAILURES = 20
SLUG_PREFIX = 60
# the newest file format Evidence's DuckDB connector (an older DuckDB than taskline's) can open
STORAGE_VERSION = "v1.4.0"

TYPES = {
    "ts": pa.timestamp("us"), "day": pa.date32(), "text": pa.string(), "int": pa.int64(), "rate": pa.float64(),
    "flag": pa.bool_(),
}  # fmt: skip


def columns(spec: str) -> tuple[tuple[str, pa.DataType], ...]:
    """`"hour ts, runs int"` as (name, Arrow type) pairs: ts a UTC instant, day a date, rate a double."""
    return tuple((name, TYPES[kind]) for name, kind in (part.split() for part in spec.split(",")))


@dataclass(frozen=True)
class Table:
    """One table of the export: its columns and the query on the warehouse that fills it (None: filled in
    Python). `{hourly}`, `{daily}`, `{history}` in the query are the windows' first instants."""

    name: str
    columns: tuple[tuple[str, pa.DataType], ...]
    sql: str | None = None


def slug(name: str) -> str:
    """A URL path segment for any name (`/`, `?`, `#`, quotes, unicode, 300 characters): a readable prefix and
    8 hex digits of its SHA-1, so two names never share a page."""
    readable = re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-.")[:SLUG_PREFIX].strip("-.")
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


RUNS_HOURLY = Table(
    "runs_hourly",
    columns("hour ts, cluster text, task_name text, runs int, failures int"),
    """
    select date_trunc('hour', activity_at), cluster, task_name, count(*),
        sum(case when is_failure then 1 else 0 end)
    from marts.fct_task_runs where activity_at >= {hourly}
    group by 1, 2, 3
    """,
)
RUNS_DAILY = Table(
    "runs_daily",
    columns(
        "day day, cluster text, task_name text, runs int, failures int, failure_rate rate, p50_runtime_s rate,"
        " p95_runtime_s rate"
    ),
    """
    select day, cluster, task_name, runs, failures, failure_rate, p50_runtime_s, p95_runtime_s
    from marts.task_failure_daily where day >= cast({daily} as date)
    """,
)
SIGNATURES = Table(
    "signatures",
    columns(
        "cluster text, task_name text, exception_type text, failures int, first_seen_at ts, last_seen_at ts,"
        " sample_message text"
    ),
    """
    select cluster, task_name, exception_type, failures, first_seen_at, last_seen_at, sample_message
    from marts.task_failure_signatures
    """,
)
SIGNATURE_DAILY = Table(
    "signature_daily",
    columns("day day, cluster text, task_name text, exception_type text, failures int"),
    """
    select activity_day, cluster, task_name, coalesce(exception_type, 'unknown'), count(*)
    from marts.fct_task_runs where is_failure and activity_at >= {daily}
    group by 1, 2, 3, 4
    """,
)
RECENT_FAILURES_TABLE = Table(
    "recent_failures",
    columns(
        "cluster text, task_name text, task_id text, failed_at ts, outcome text, exception_type text,"
        " exception_message text, worker text"
    ),
    f"""
    select cluster, task_name, task_id, activity_at, outcome, exception_type, exception_message, worker
    from (
        select *, row_number() over (partition by cluster, task_name order by activity_at desc, task_id) as recency
        from marts.fct_task_runs where is_failure
    ) as failures
    where recency <= {RECENT_FAILURES}
    """,
)
TABLE_EDGES = Table(
    "table_edges",
    columns("source_table text, target_table text"),
    "select distinct source_table, target_table from marts.lineage_table_edges",
)
TABLE_DOWNSTREAM = Table(
    "table_downstream",
    columns("table_name text, downstream_table text, depth int"),
    "select table_name, downstream_table, depth from marts.lineage_impact",
)
WRITTEN_TABLES = Table(
    "written_tables",
    columns("task_name text, table_name text"),
    "select distinct task_name, table_name from seeds.task_table_map where task_name is not null",
)
QUEUE_BACKLOG = Table(
    "queue_backlog",
    columns("hour ts, cluster text, queue_name text, avg_messages rate, max_messages int, last_messages int"),
    """
    select hour, cluster, queue_name, avg_messages, max_messages, last_messages
    from marts.queue_backlog_hourly where hour >= {hourly}
    """,
)
WORKERS = Table(
    "workers",
    columns(
        "cluster text, worker text, is_online flag, last_heartbeat_at ts, online_ratio rate, processed_total int,"
        " alert_level text"
    ),
    """
    select workers.cluster, workers.worker, workers.is_online, workers.last_heartbeat_at, workers.online_ratio,
        workers.processed_total, alerts.alert_level
    from marts.dim_workers as workers
    left join marts.operations_alerts as alerts
        on alerts.rule = 'worker_offline' and alerts.cluster = workers.cluster and alerts.subject = workers.worker
    """,
)
# filled in Python: each from a query above, from the alerts' own sentences, or from Dagster's instance
TASKS = Table(
    "tasks",
    columns(
        "task_name text, task_slug text, clusters text, runs_7d int, failures_7d int, failure_rate_7d rate,"
        " runs_30d int, failures_30d int, failure_rate_30d rate, last_run_at ts, last_failure_at ts,"
        " alert_level text"
    ),
)
OPEN_ALERTS = Table(
    "open_alerts",
    columns(
        "rule text, cluster text, subject text, task_slug text, alert_level text, owner text, sentence text,"
        " since_at ts"
    ),
)
ALERT_HISTORY = Table(
    "alert_history",
    columns(
        "rule text, alert_id text, cluster text, subject text, task_slug text, event text, alert_level text,"
        " event_at ts"
    ),
    """
    select 'failure_spike', alert_id, cluster, task_name, event, alert_level, event_at
    from marts.task_failure_alert_history where event_at >= {history}
    union all
    select rule, alert_id, cluster, subject, event, alert_level, event_at
    from marts.operations_alert_history where event_at >= {history}
    """,
)
TASK_TABLES = Table(
    "task_tables",
    columns(
        "task_name text, task_slug text, table_name text, table_slug text, depth int, written_table text"
    ),
)
TABLES = Table(
    "tables",
    columns(
        "table_name text, table_slug text, upstream_tables int, downstream_tables int, writer_tasks int,"
        " failing_tasks int, at_risk flag"
    ),
)
TASKLINE_HEALTH = Table(
    "taskline_health",
    columns("check_name text, cluster text, passed flag, severity text, description text, evaluated_at ts"),
)
CAPTURES = Table("captures", columns("cluster text, last_capture_at ts"))
EXPORT_INFO = Table("export_info", columns("exported_at ts, engine text, has_data flag"))


@dataclass(frozen=True)
class Health:
    """taskline's own state, read from Dagster's instance: its checks' latest evaluations (check, cluster,
    passed, severity, description, evaluated at) and each cluster's latest capture."""

    checks: list[tuple]
    captures: list[tuple]


def windows(now: datetime) -> dict[str, str]:
    """Each window's first instant as a SQL literal in UTC (the same on DuckDB and PostgreSQL, whatever the
    session's time zone)."""
    starts = {"hourly": HOURLY_DAYS, "daily": DAILY_DAYS, "history": HISTORY_DAYS}
    return {
        name: f"cast('{now - timedelta(days=days):%Y-%m-%d %H:%M:%S}+00' as timestamp with time zone)"
        for name, days in starts.items()
    }


def read_rows(sql: str) -> list[tuple]:
    """The query's rows; none while a table it reads is not built yet (a source not loaded). A connection of
    its own: on PostgreSQL a failed query ends its transaction. On DuckDB not dlt's, whose memory limit is
    sized for loads: the queries here read the whole history (the caller holds the reader's turn)."""
    try:
        if is_postgres():
            return query_rows(sql)
        with duckdb.connect(str(warehouse_path()), read_only=True) as connection:
            return connection.execute(sql).fetchall()
    except (DatabaseUndefinedRelation, duckdb.CatalogException):
        return []


def read_warehouse(now: datetime) -> dict[str, list[tuple]]:
    """The rows of every table the warehouse fills directly, and the alerts with their sentences."""
    queried = (
        RUNS_HOURLY, RUNS_DAILY, SIGNATURES, SIGNATURE_DAILY, RECENT_FAILURES_TABLE, TABLE_EDGES, TABLE_DOWNSTREAM,
        WRITTEN_TABLES, QUEUE_BACKLOG, WORKERS, ALERT_HISTORY,
    )  # fmt: skip
    at = windows(now)
    rows = {table.name: read_rows(table.sql.format(**at)) for table in queried}
    rows[OPEN_ALERTS.name] = open_alerts()
    return rows


def open_alerts() -> list[tuple]:
    """Every open alert with the sentence its check and messages say, and its owner."""
    spikes, _ = owned_alerts(check.ALERTS_SQL, check.ALERT_COLUMNS, check.EVENTS_SQL, check.EVENT_COLUMNS)
    watched, _ = owned_alerts(
        operations.ALERTS_SQL, operations.ALERT_COLUMNS, operations.EVENTS_SQL, operations.EVENT_COLUMNS
    )
    return [
        ("failure_spike", row["cluster"], row["task_name"], None, row["alert_level"], row.get("owner"),
         check.alert_sentence(row), row["window_start_at"])
        for row in spikes
        if row["alert_level"]
    ] + [
        (row["rule"], row["cluster"], row["subject"], None, row["alert_level"], row.get("owner"),
         operations.alert_sentence(row), row["since_at"])
        for row in watched
    ]  # fmt: skip


def task_rows(rows: dict[str, list[tuple]], now: datetime) -> list[tuple]:
    """One row per task name of the last 30 days (or with an open alert): its runs and failures over 7 and 30
    days, its clusters, its worst open alert."""
    week = (now - timedelta(days=HOURLY_DAYS)).date()
    tasks: dict[str, dict[str, Any]] = {}
    for day, cluster, name, runs, failures, *_ in rows[RUNS_DAILY.name]:
        task = tasks.setdefault(name, {"clusters": set(), "7d": [0, 0], "30d": [0, 0]})
        task["clusters"].add(cluster)
        task["30d"][0] += runs
        task["30d"][1] += failures
        if day >= week:
            task["7d"][0] += runs
            task["7d"][1] += failures
    last_run = latest(rows[RUNS_HOURLY.name], lambda row: (row[2], row[0]))
    last_failure = latest(rows[RECENT_FAILURES_TABLE.name], lambda row: (row[1], row[3]))
    levels = alert_levels(rows[OPEN_ALERTS.name])
    for name in levels:
        tasks.setdefault(name, {"clusters": set(), "7d": [0, 0], "30d": [0, 0]})
    return [
        (name, slug(name), ", ".join(sorted(task["clusters"])), *rated(task["7d"]), *rated(task["30d"]),
         last_run.get(name), last_failure.get(name), levels.get(name))
        for name, task in sorted(tasks.items())
    ]  # fmt: skip


def rated(counts: list[int]) -> tuple[int, int, float | None]:
    runs, failures = counts
    return runs, failures, failures / runs if runs else None


def latest(rows: Iterable[tuple], name_and_time: Callable[[tuple], tuple]) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for row in rows:
        name, at = name_and_time(row)
        if at is not None and (name not in found or at > found[name]):
            found[name] = at
    return found


def alert_levels(alerts: list[tuple]) -> dict[str, str]:
    """Each task's worst open alert: error over warn (an alert on a worker or queue names no task)."""
    levels: dict[str, str] = {}
    for rule, _, subject, _, level, *_ in alerts:
        if (
            rule in ("failure_spike", "overdue_periodic_task", "stuck_tasks")
            and levels.get(subject) != "error"
        ):
            levels[subject] = level
    return levels


def reached_tables(written: list[tuple], downstream: list[tuple]) -> list[tuple]:
    """Every table each task reaches, at its nearest: depth 0 the tables it writes (task_table_map), then what
    lineage puts downstream of them (the tables_reached macro's rule, by task name)."""
    below: dict[str, list[tuple[str, int]]] = {}
    for table, downstream_table, depth in downstream:
        below.setdefault(table, []).append((downstream_table, depth))
    nearest: dict[tuple[str, str], tuple[int, str]] = {}
    for task, table in written:
        for reached, depth in [(table, 0), *below.get(table, [])]:
            key = (task, reached)
            if key not in nearest or (depth, table) < nearest[key]:
                nearest[key] = (depth, table)
    return [
        (task, slug(task), table, slug(table), depth, written_table)
        for (task, table), (depth, written_table) in sorted(nearest.items())
    ]


def table_rows(rows: dict[str, list[tuple]], reached: list[tuple], tasks: list[tuple]) -> list[tuple]:
    """Every table lineage or the task map names: how many tables feed it and follow it, how many tasks reach
    it, and how many of those failed in the last 7 days (then it is at risk)."""
    upstream: dict[str, int] = {}
    downstream: dict[str, int] = {}
    for table, downstream_table, _ in rows[TABLE_DOWNSTREAM.name]:
        downstream[table] = downstream.get(table, 0) + 1
        upstream[downstream_table] = upstream.get(downstream_table, 0) + 1
    failing = {task[0] for task in tasks if task[4]}
    writers: dict[str, set[str]] = {}
    for task, _, table, *_ in reached:
        writers.setdefault(table, set()).add(task)
    names = set(upstream) | set(downstream) | set(writers)
    return [
        (name, slug(name), upstream.get(name, 0), downstream.get(name, 0), len(writers.get(name, ())),
         len(writers.get(name, set()) & failing), bool(writers.get(name, set()) & failing))
        for name in sorted(names)
    ]  # fmt: skip


def with_slugs(rows: list[tuple], name_at: int, slug_at: int) -> list[tuple]:
    return [(*row[:slug_at], slug(row[name_at]), *row[slug_at:]) for row in rows]


def export_tables(
    rows: dict[str, list[tuple]], health: Health, now: datetime, engine: str
) -> dict[str, list]:
    """Every table of the export, from the warehouse's rows and taskline's health."""
    tasks = task_rows(rows, now)
    reached = reached_tables(rows[WRITTEN_TABLES.name], rows[TABLE_DOWNSTREAM.name])
    alerts = [
        (
            *alert[:3],
            slug(alert[2]) if alert[0] not in ("worker_offline", "queue_backlog") else None,
            *alert[4:],
        )
        for alert in rows[OPEN_ALERTS.name]
    ]
    history = [
        (
            *event[:4],
            slug(event[3]) if event[0] not in ("worker_offline", "queue_backlog") else None,
            *event[4:],
        )
        for event in rows[ALERT_HISTORY.name]
    ]
    return {
        **{name: table_rows for name, table_rows in rows.items() if name != WRITTEN_TABLES.name},
        TASKS.name: tasks,
        OPEN_ALERTS.name: alerts,
        ALERT_HISTORY.name: history,
        SIGNATURES.name: with_slugs(rows[SIGNATURES.name], 1, 2),
        TASK_TABLES.name: reached,
        TABLES.name: table_rows(rows, reached, tasks),
        TABLE_EDGES.name: [(s, slug(s), t, slug(t)) for s, t in rows[TABLE_EDGES.name]],
        TABLE_DOWNSTREAM.name: [(t, d, slug(d), depth) for t, d, depth in rows[TABLE_DOWNSTREAM.name]],
        TASKLINE_HEALTH.name: health.checks,
        CAPTURES.name: health.captures,
        EXPORT_INFO.name: [(now, engine, bool(rows[RUNS_DAILY.name] or rows[RUNS_HOURLY.name]))],
    }


# the export's columns where Python adds slugs to a queried table
SLUGGED = {
    SIGNATURES.name: (*SIGNATURES.columns[:2], *columns("task_slug text"), *SIGNATURES.columns[2:]),
    TABLE_EDGES.name: columns("source_table text, source_slug text, target_table text, target_slug text"),
    TABLE_DOWNSTREAM.name: columns("table_name text, downstream_table text, downstream_slug text, depth int"),
}
EXPORTED = (
    RUNS_HOURLY, RUNS_DAILY, SIGNATURES, SIGNATURE_DAILY, RECENT_FAILURES_TABLE, TABLE_EDGES, TABLE_DOWNSTREAM,
    QUEUE_BACKLOG, WORKERS, ALERT_HISTORY, TASKS, OPEN_ALERTS, TASK_TABLES, TABLES, TASKLINE_HEALTH, CAPTURES,
    EXPORT_INFO,
)  # fmt: skip


def columns_of(table: Table) -> tuple[tuple[str, pa.DataType], ...]:
    return SLUGGED.get(table.name, table.columns)


def plain(value: Any) -> Any:
    """PostgreSQL's numerics (a sum, an average) as the numbers Arrow takes."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def write_export(tables: dict[str, list], path: Path) -> None:
    """The export as one DuckDB file at `path`, replaced whole (a build never reads half of one)."""
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with duckdb.connect() as connection:
        connection.execute(f"attach '{partial}' as export (storage_version '{STORAGE_VERSION}')")
        for table in EXPORTED:
            schema = pa.schema(columns_of(table))
            rows = [dict(zip(schema.names, map(plain, row), strict=True)) for row in tables[table.name]]
            data = pa.Table.from_pylist(rows, schema=schema)
            connection.register("rows", data)
            connection.execute(f"create table export.{table.name} as select * from rows")
            connection.unregister("rows")
        connection.execute("detach export")
    partial.replace(path)


def export(path: Path, health: Health, engine: str, now: datetime | None = None) -> dict[str, int]:
    """Read the warehouse (the caller holds a reader's turn) and write the export; its row counts by table."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    tables = export_tables(read_warehouse(now), health, now, engine)
    write_export(tables, path)
    return {table.name: len(tables[table.name]) for table in EXPORTED}
