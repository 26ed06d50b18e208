"""The failures that raise no failure, in the Dagster UI: the `operations_alerts_open` check on
marts/operations_alerts (a periodic task overdue, tasks stuck or lost, a worker down, a queue backing up).

The rules are dbt's (models/marts/operations/); this turns their rows into the sentences people read, in the
check and in the messages the notifier sends, and hands the notifier the alert history it delivers from.
"""

from datetime import datetime
from typing import Any

import dagster as dg

from orchestration.alerts.check import (
    TASK_TABLE_MAP,
    alert_metadata,
    open_alerts_result,
    owned_alerts,
    owner_sentence,
)
from orchestration.keys import OPERATIONS_CHECK, OPERATIONS_MART
from orchestration.runs.writer import reading_in_turn
from orchestration.warehouse.pipelines import query_records

FIGURES = (
    "since_at", "due_at", "schedule", "schedule_source", "interval_seconds", "threshold_seconds", "age_seconds",
    "task_count", "lost_task_count", "sample_task_ids", "messages", "messages_before", "tables_at_risk",
    "has_known_tables",
)  # fmt: skip
ALERT_COLUMNS = ("rule", "cluster", "subject", "alert_level", "observed_at", *FIGURES)
EVENT_COLUMNS = (
    "event_id", "alert_id", "rule", "cluster", "subject", "event", "alert_level", "opened_at", "event_at", *FIGURES,
)  # fmt: skip
EVENTS_HANDED_OVER = 200
ALERTS_SQL = f"""
    select {", ".join(ALERT_COLUMNS)} from marts.operations_alerts where alert_level is not null
    order by case alert_level when 'error' then 0 else 1 end, rule, cluster, subject
"""
EVENTS_SQL = f"""
    select {", ".join(EVENT_COLUMNS)} from marts.operations_alert_history
    order by event_id desc limit {EVENTS_HANDED_OVER}
"""
UNREADABLE_SQL = (
    "select cluster, task_name, schedule from marts.periodic_tasks where is_unreadable order by 1, 2"
)
SAMPLE = 5
QUIET = "No periodic task overdue, no task stuck, no worker down, no queue backing up."


def duration(seconds: float) -> str:
    """45 s, 12 min, 3 h 5 min, 2 days 4 h: the two largest units that say it."""
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def observed(row: dict[str, Any]) -> datetime:
    """The capture an alert row (observed_at) or a history event (event_at) was judged at."""
    return row.get("observed_at") or row["event_at"]


def clock(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def in_cluster(row: dict[str, Any]) -> str:
    return f"in cluster `{row['cluster']}`"


def ids(row: dict[str, Any]) -> str:
    return ", ".join((row.get("sample_task_ids") or "").split(",")[:SAMPLE])


def schedule_phrase(row: dict[str, Any]) -> str:
    if row["schedule_source"] == "learned":
        return f"it runs every {duration(row['interval_seconds'])} (learned from its runs)"
    if row.get("interval_seconds") is not None:
        return f"it is declared to run every {duration(row['interval_seconds'])}"
    return f"it is declared to run on cron `{row['schedule']}` (UTC)"


def stale_sentence(row: dict[str, Any]) -> str:
    if row.get("tables_at_risk"):
        tables = ", ".join(
            f"`{name}` ({where}"
            for name, _, where in (part.partition(" (") for part in row["tables_at_risk"].split(", "))
        )
        return f" {'Going stale' if row['rule'] == 'overdue_periodic_task' else 'At risk'}: {tables}."
    if row["rule"] in ("overdue_periodic_task", "stuck_tasks"):  # a task the map names has its written tables
        return f" No tables known for it: add it to {TASK_TABLE_MAP}."
    return ""


def overdue_sentence(row: dict[str, Any]) -> str:
    task = f"`{row['subject']}` {in_cluster(row)}"
    grace = duration(row["threshold_seconds"])
    if row.get("since_at") is None:
        return f"{task} is overdue: no run in what taskline keeps of the last days; {schedule_phrase(row)}."
    return (
        f"{task} is overdue: it last ran at {clock(row['since_at'])}, {duration(row['age_seconds'])} ago; "
        f"{schedule_phrase(row)}, so a run was due at {clock(row['due_at'])} (grace {grace})."
    )


def stuck_sentence(row: dict[str, Any]) -> str:
    parts = []
    if row.get("task_count"):
        parts.append(
            f"{row['task_count']} stuck, the oldest for {duration(row['age_seconds'])} "
            f"(limit {duration(row['threshold_seconds'])})"
        )
    if row.get("lost_task_count"):
        parts.append(f"{row['lost_task_count']} lost with their worker (gone offline while they ran)")
    return f"`{row['subject']}` {in_cluster(row)}: {' and '.join(parts)}. Tasks: {ids(row)}."


def worker_sentence(row: dict[str, Any]) -> str:
    sentence = (
        f"Worker `{row['subject']}` {in_cluster(row)} is down: offline for {duration(row['age_seconds'])} "
        f"(tolerance {duration(row['threshold_seconds'])}), last online at {clock(row['since_at'])}."
    )
    if row.get("lost_task_count"):
        sentence += f" It was running {row['lost_task_count']} task(s): {ids(row)}."
    return sentence


def queue_sentence(row: dict[str, Any]) -> str:
    return (
        f"Queue `{row['subject']}` {in_cluster(row)} is backing up: {row['messages']:,} messages waiting, "
        f"from {row['messages_before']:,} {duration((observed(row) - row['since_at']).total_seconds())} "
        f"earlier ({row['task_count']} snapshots)."
    )


SENTENCES = {
    "overdue_periodic_task": overdue_sentence,
    "stuck_tasks": stuck_sentence,
    "worker_offline": worker_sentence,
    "queue_backlog": queue_sentence,
}


def alert_sentence(row: dict[str, Any]) -> str:
    return SENTENCES[row["rule"]](row) + stale_sentence(row) + owner_sentence(row)


def worker_back(row: dict[str, Any]) -> str:
    if not row["age_seconds"]:
        return f"worker `{row['subject']}` {in_cluster(row)} is back online."
    return (
        f"worker `{row['subject']}` {in_cluster(row)} is still offline, but its cluster has as many workers "
        "online as before (replaced), or its absence is expected."
    )


RESOLUTIONS = {
    "overdue_periodic_task": lambda row: (
        f"`{row['subject']}` {in_cluster(row)} ran again at {clock(row['since_at'])}."
    ),
    "stuck_tasks": lambda row: f"`{row['subject']}` {in_cluster(row)} has no task stuck or lost any more.",
    "worker_offline": worker_back,
    "queue_backlog": lambda row: (
        f"queue `{row['subject']}` {in_cluster(row)} holds {row['messages']:,} messages, no longer growing."
    ),
}
# resolved because its row is gone: nothing of it is watched any more
GONE = {
    "overdue_periodic_task": "`{subject}` {cluster} is no longer watched as periodic (no steady runs, or its declaration removed).",
    "stuck_tasks": "`{subject}` {cluster} has no task stuck or lost any more.",
    "worker_offline": "worker `{subject}` {cluster} is no longer watched (not online in the lookback).",
    "queue_backlog": "queue `{subject}` {cluster} is no longer listed by Flower.",
}


def event_sentence(event: dict[str, Any]) -> str:
    """What the notifier says of a history event: an alert opened (its whole sentence) or resolved."""
    if event["event"] == "opened":
        return alert_sentence(event)
    since = f"Resolved (alerting since {event['opened_at'].isoformat(timespec='minutes')}): "
    if event.get("age_seconds") is None and event.get("messages") is None:
        said = GONE[event["rule"]].format(subject=event["subject"], cluster=in_cluster(event))
    else:
        said = RESOLUTIONS[event["rule"]](event)
    return since + said + owner_sentence(event)


@dg.asset_check(
    asset=OPERATIONS_MART,
    name=OPERATIONS_CHECK.name,
    config_schema={},  # a launch sets nothing here (definitions.fixed)
    description=(
        "Fails while the failures that raise no failure are open (marts.operations_alerts): a periodic "
        "task overdue, tasks stuck or lost with their worker, a worker down, a queue backing up. WARN or "
        "ERROR by the worst, one sentence per alert naming its owner. The metadata holds the figures, and "
        "the latest events of marts.operations_alert_history the notifier sends (taskline_notifications)."
    ),
)
def operations_alerts_open(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    with reading_in_turn(context.op_execution_context):
        rows, events = owned_alerts(ALERTS_SQL, ALERT_COLUMNS, EVENTS_SQL, EVENT_COLUMNS)
        unreadable = query_records(UNREADABLE_SQL, ("cluster", "task_name", "schedule"))
    return operations_result(rows, events, unreadable)


def operations_result(
    rows: list[dict[str, Any]], events: list[dict[str, Any]], unreadable: list[dict[str, Any]]
) -> dg.AssetCheckResult:
    metadata = alert_metadata(rows, events, alert_sentence, event_sentence)
    metadata["unreadable_schedules"] = dg.MetadataValue.json(unreadable)
    fix = "".join(
        f" Schedule `{row['schedule']}` of `{row['task_name']}` (cluster `{row['cluster']}`) is neither an "
        "interval nor a cron expression: fix it in dbt_project/seeds/task_schedules.csv."
        for row in unreadable
    )
    return open_alerts_result(rows, alert_sentence, metadata, QUIET, fix)
