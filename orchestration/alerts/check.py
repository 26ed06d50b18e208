"""Failure alerts in the Dagster UI: the `task_failure_alerts_open` check on marts/task_failure_alerts.

The spike rule is dbt's (models/marts/tasks/task_failure_alerts.sql); this turns its rows into the sentences
people read, in the check and in the messages the notifier sends (orchestration/alerts/notifier.py), and hands the
notifier the alert history it delivers from.
"""

from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from orchestration.alerts.owners import read_ownerships, with_owners
from orchestration.keys import ALERTS_CHECK, ALERTS_MART
from orchestration.runs.writer import reading_in_turn
from orchestration.warehouse.pipelines import query_records
from sources.flower.clusters import DEFAULT_CLUSTER

TASK_TABLE_MAP = "dbt_project/seeds/task_table_map.csv"
# the history events each evaluation hands the notifier: more than builds record between two of its ticks
EVENTS_HANDED_OVER = 200

ALERT_COLUMNS = (
    "cluster", "task_name", "alert_level", "window_start_at", "window_end_at", "window_runs", "window_failures",
    "window_failure_rate", "baseline_start_at", "baseline_runs", "baseline_failures", "baseline_failure_rate",
    "top_exception_type", "top_exception_message", "is_new_exception_type", "has_known_tables",
    "tables_at_risk",
)  # fmt: skip
EVENT_COLUMNS = (
    "event_id", "alert_id", "cluster", "task_name", "event", "alert_level", "opened_at", "event_at",
    "window_start_at", "window_runs", "window_failures", "window_failure_rate", "baseline_start_at", "baseline_runs",
    "baseline_failures", "baseline_failure_rate", "top_exception_type", "top_exception_message",
    "is_new_exception_type", "has_known_tables", "tables_at_risk",
)  # fmt: skip
ALERTS_SQL = f"""
    select {", ".join(ALERT_COLUMNS)} from marts.task_failure_alerts
    where alert_level is not null or (window_failures > 0 and not has_known_tables)
    order by case alert_level when 'error' then 0 when 'warn' then 1 else 2 end, task_name, cluster
"""
EVENTS_SQL = f"""
    select {", ".join(EVENT_COLUMNS)} from marts.task_failure_alert_history
    order by event_id desc limit {EVENTS_HANDED_OVER}
"""


def percent(rate: float) -> str:
    """40%, 2%, 0.4%: whole percents, but a rate under 1% keeps a decimal (it is not 0)."""
    return f"{rate:.1%}" if 0 < rate < 0.01 else f"{rate:.0%}"


def window_phrase(start: datetime, end: datetime) -> str:
    minutes = round((end.replace(second=0, microsecond=0) - start) / timedelta(minutes=1)) + 1
    return "in the last hour" if minutes == 60 else f"in the last {minutes} minutes"


def task_phrase(row: dict[str, Any]) -> str:
    """`etl.x` in cluster `billing`: a task is its name within its cluster (one name may run in several)."""
    return f"`{row['task_name']}` in cluster `{row.get('cluster') or DEFAULT_CLUSTER}`"


def figures_sentence(row: dict[str, Any], baseline_days: int) -> str:
    """`etl.x` in cluster `billing` failed 12 of 30 runs in the last hour (40%) — usually 2% (14 of 700 over
    the previous 7 days)."""
    if not row.get("window_runs"):
        return f"{task_phrase(row)} ran no more in the window."
    days = period(baseline_days)
    usually = (
        f"usually {percent(row['baseline_failure_rate'])} ({row['baseline_failures']} of {row['baseline_runs']} "
        f"over the previous {days})"
        if row["baseline_runs"]
        else f"no runs in the previous {days} to compare with"
    )
    return (
        f"{task_phrase(row)} failed {row['window_failures']} of {row['window_runs']} runs "
        f"{window_phrase(row['window_start_at'], row['event_at'] if 'event_at' in row else row['window_end_at'])} "
        f"({percent(row['window_failure_rate'])}) — {usually}."
    )


def period(days: int) -> str:
    return "day" if days == 1 else f"{days} days"


def cause_sentence(row: dict[str, Any], baseline_days: int) -> str:
    if not row.get("top_exception_type"):
        return ""
    message = f": {row['top_exception_message']}" if row.get("top_exception_message") else ""
    new = (
        f" (new: not raised in the previous {period(baseline_days)})"
        if row.get("is_new_exception_type")
        else ""
    )
    return f" Mostly `{row['top_exception_type']}{message}`{new}."


def risk_sentence(row: dict[str, Any]) -> str:
    # a failing task the map names has at least the tables it writes at risk (task_failure_impact, depth 0):
    # none means no map row, also in events recorded before the history kept has_known_tables (null there)
    if not row.get("tables_at_risk"):
        return f" At risk: no tables known for it: add it to {TASK_TABLE_MAP}."
    tables = ", ".join(
        f"`{name}` ({where}"
        for name, _, where in (part.partition(" (") for part in row["tables_at_risk"].split(", "))
    )
    return f" At risk: {tables}."


def owner_sentence(row: dict[str, Any]) -> str:
    """Who owns it (seed task_owners): the team whose channels get it."""
    return f" Owner: {row['owner']}." if row.get("owner") else ""


def alert_sentence(row: dict[str, Any]) -> str:
    """The whole message of an open alert: figures, cause, tables at risk, owner."""
    days = (row["window_start_at"] - row["baseline_start_at"]).days
    return figures_sentence(row, days) + cause_sentence(row, days) + risk_sentence(row) + owner_sentence(row)


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in row.items()}


@dg.asset_check(
    asset=ALERTS_MART,
    name=ALERTS_CHECK.name,
    config_schema={},  # a launch sets nothing here (definitions.fixed)
    description=(
        "Fails while a task's failures spike (marts.task_failure_alerts): WARN or ERROR by the worst open "
        "alert, one sentence per alert — its failures in the window against its usual rate, the exception "
        "most of them raised, the tables at risk. Tasks failing with no tables known are named. The "
        "metadata holds the figures, and the latest events of marts.task_failure_alert_history the "
        "notifier sends (taskline_notifications)."
    ),
)
def task_failure_alerts_open(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    # DuckDB lets no one read while another process writes: a reader's turn, on the writers' lock
    with reading_in_turn(context.op_execution_context):
        rows, events = owned_alerts(ALERTS_SQL, ALERT_COLUMNS, EVENTS_SQL, EVENT_COLUMNS)
    return alerts_result(rows, events)


def owned_alerts(
    alerts_sql: str, alert_columns: tuple[str, ...], events_sql: str, event_columns: tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An alerts mart's rows and its history's latest events, each with its owner."""
    ownerships = read_ownerships()
    rows = with_owners(query_records(alerts_sql, alert_columns), ownerships)
    return rows, with_owners(query_records(events_sql, event_columns), ownerships)


def alert_metadata(
    alerts: list[dict[str, Any]], events: list[dict[str, Any]], sentence, said_of_event
) -> dict:
    """The figures of the open alerts and the events handed to the notifier, each with its sentence."""
    for event in events:
        event["text"] = said_of_event(event)
    return {
        "open_alerts": dg.MetadataValue.int(len(alerts)),
        "alerts": dg.MetadataValue.json([{**jsonable(row), "text": sentence(row)} for row in alerts]),
        "alert_events": dg.MetadataValue.json([jsonable(event) for event in reversed(events)]),
    }


def open_alerts_result(
    alerts: list[dict[str, Any]], sentence, metadata: dict, quiet: str, note: str = ""
) -> dg.AssetCheckResult:
    """Passed with `quiet` while no alert is open, else WARN or ERROR by the worst, one sentence per alert."""
    if not alerts:
        return dg.AssetCheckResult(passed=True, metadata=metadata, description=quiet + note)
    worst = dg.AssetCheckSeverity.ERROR if any(row["alert_level"] == "error" for row in alerts) else None
    return dg.AssetCheckResult(
        passed=False,
        severity=worst or dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description="\n".join(f"{row['alert_level']}: {sentence(row)}" for row in alerts) + note,
    )


def alerts_result(rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> dg.AssetCheckResult:
    alerts = [row for row in rows if row["alert_level"]]
    unmapped = sorted(
        f"{row['task_name']} (cluster {row.get('cluster') or DEFAULT_CLUSTER})"
        for row in rows
        if not row["has_known_tables"]
    )
    metadata = alert_metadata(alerts, events, alert_sentence, event_sentence)
    metadata["tasks_without_known_tables"] = dg.MetadataValue.json(unmapped)
    unmapped_note = (
        f" Failing with no tables known: {', '.join(unmapped)} (add them to {TASK_TABLE_MAP})."
        if unmapped
        else ""
    )
    return open_alerts_result(
        alerts, alert_sentence, metadata, "No task's failures spike.", "" if alerts else unmapped_note
    )


def event_sentence(event: dict[str, Any]) -> str:
    """What the notifier says of a history event: an alert opened (its whole sentence) or resolved."""
    if event["event"] == "opened":
        return alert_sentence(event)
    since = event["opened_at"].isoformat(timespec="minutes")
    if event.get("window_start_at") is None:
        return (
            f"Resolved: {task_phrase(event)} (alerting since {since}) ran no more in the window."
            + owner_sentence(event)
        )
    days = (event["window_start_at"] - event["baseline_start_at"]).days
    return f"Resolved (alerting since {since}): " + figures_sentence(event, days) + owner_sentence(event)
