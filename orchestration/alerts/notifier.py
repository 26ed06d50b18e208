"""Messages where a team looks: the `taskline_notifications` sensor.

It sends, once each, to the default channels or, for an alert whose owner (seed task_owners) has channels,
to those:
- a failure alert opening and resolving (marts.task_failure_alert_history, handed over by the
  `task_failure_alerts_open` check's evaluations): an alert is a cluster's task's, its sentence names the
  cluster and its message carries `cluster` beside `task_name`;
- an operations alert opening and resolving (marts.operations_alert_history, handed over by
  `operations_alerts_open`): a periodic task overdue, tasks stuck or lost, a worker down, a queue backing up;
- taskline's own failures: a failed run, and a self-check turning red or yellow (tasks missing from the
  warehouse, task attempts lost, no recent task events: a dead loader must not read as "no failures"),
  and passing again.

What is sent, and what still waits for a channel that is down, lives in the sensor's cursor (Dagster's
instance keeps it across daemon restarts). A channel that fails is retried with back-off, in order, until
it answers; it never blocks or fails a load. Webhook URLs are credentials: they are read from the
environment when a message goes and never logged, stored or shown.
"""

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg
import requests
from dagster._core.event_api import EventLogCursor
from dagster._core.storage.tags import PARTITION_NAME_TAG

from orchestration import settings
from orchestration.alerts.channels import Channel, NotifyError, channels_for, configured_channels, ui_url
from orchestration.keys import (
    ALERTS_CHECK,
    COMPLETENESS_CHECK,
    COVERAGE_CHECK,
    FRESHNESS_CHECK,
    OPERATIONS_CHECK,
)

# taskline's own checks whose failing is news
SELF_CHECKS = (COMPLETENESS_CHECK, COVERAGE_CHECK, FRESHNESS_CHECK)
# the alert checks, each handing over its history's events, and the cursor field of the last one read
ALERT_CHECKS = ((ALERTS_CHECK, "alert_events_after"), (OPERATIONS_CHECK, "operations_events_after"))
SENSOR_INTERVAL_S = 30
# a channel that failed is tried again after 30 s, then 60 s, ... up to an hour between tries
RETRY_FIRST_S = 30.0
RETRY_MAX_S = 3600.0
DELIVERY_TIMEOUT_S = 10
# a tick stops sending after this long; the rest goes at the next one
TICK_BUDGET_S = 40


@dataclass
class Pending:
    """A message one channel has not taken yet."""

    channel: str
    message: dict[str, Any]
    attempts: int = 0
    next_attempt_at: float = 0.0


@dataclass
class NotifierState:
    """The sensor's cursor: how far each stream was read, what is failing, what waits to be sent."""

    runs_after: int | None = None  # storage id of the last failed-run event read
    checks_after: dict[str, int] = field(default_factory=dict)  # per check: the last evaluation read
    alert_events_after: int = 0  # the last failure alert history event read
    operations_events_after: int = 0  # the last operations alert history event read
    failing_checks: list[str] = field(default_factory=list)
    outbox: list[Pending] = field(default_factory=list)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "NotifierState | None":
        if not cursor:
            return None
        stored = json.loads(cursor)
        return cls(**{**stored, "outbox": [Pending(**pending) for pending in stored["outbox"]]})

    def to_cursor(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def of_cluster(partition: str | None) -> str:
    """How a message names an estate's cluster (a partition of Flower's assets and runs)."""
    return f" (cluster {partition})" if partition else ""


def check_name(key: dg.AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


def run_is_over(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is None or run.is_finished


def finished_evaluations(instance: dg.DagsterInstance, key: dg.AssetCheckKey, after: int | None) -> list:
    """The check's evaluations after record `after`, oldest first, up to the first still running."""
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    finished = []
    for record in sorted(records, key=lambda record: record.id):
        if after is not None and record.id <= after:
            continue
        evaluation = record.event and record.event.dagster_event.event_specific_data
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            if record.status.value == "PLANNED" and not run_is_over(instance, record.run_id):
                break  # the next ones wait for it, so messages keep their order
            continue  # never evaluated: its run failed before it (a Flower down), it will not be
        finished.append((record.id, evaluation))
    return finished


def latest_run_failure(instance: dg.DagsterInstance) -> int:
    records = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=1).records
    return records[0].storage_id if records else 0


def starting_state(instance: dg.DagsterInstance) -> NotifierState:
    """The first tick starts from now: what happened before the sensor ran is not news."""
    state = NotifierState(runs_after=latest_run_failure(instance))
    alert_cursors = dict(ALERT_CHECKS)
    for key in (*alert_cursors, *SELF_CHECKS):
        evaluations = finished_evaluations(instance, key, None)
        state.checks_after[check_name(key)] = evaluations[-1][0] if evaluations else 0
        if key in alert_cursors and evaluations:
            events = evaluations[-1][1].metadata["alert_events"].value
            setattr(state, alert_cursors[key], max((event["event_id"] for event in events), default=0))
    return state


def alert_messages(instance: dg.DagsterInstance, state: NotifierState, ui: str) -> list[dict[str, Any]]:
    messages = []
    for key, cursor in ALERT_CHECKS:
        name = check_name(key)
        for record_id, evaluation in finished_evaluations(instance, key, state.checks_after.get(name)):
            state.checks_after[name] = record_id
            events = (
                evaluation.metadata["alert_events"].value if "alert_events" in evaluation.metadata else []
            )
            if events and max(event["event_id"] for event in events) < getattr(state, cursor):
                setattr(state, cursor, 0)  # a new warehouse: its history starts again at 1
            for event in events:
                if event["event_id"] > getattr(state, cursor):
                    setattr(state, cursor, event["event_id"])
                    messages.append(alert_message(event, key, ui))
    return messages


def alert_message(event: dict[str, Any], key: dg.AssetCheckKey, ui: str) -> dict[str, Any]:
    fields = {name: value for name, value in event.items() if name not in ("text", "tables_at_risk")}
    tables = event.get("tables_at_risk")
    return {
        "kind": f"alert_{event['event']}",
        "rule": event.get("rule", "failure_spike"),
        "text": ("" if event["event"] == "resolved" else f"[{event['alert_level']}] ") + event["text"],
        "link": f"{ui}/assets/{key.asset_key.to_user_string()}?view=checks",
        **fields,
        "tables_at_risk": tables.split(", ") if tables else [],
    }


def self_check_messages(instance: dg.DagsterInstance, state: NotifierState, ui: str) -> list[dict[str, Any]]:
    """A self-check turning red or yellow, and passing again: once each way."""
    messages = []
    for key in SELF_CHECKS:
        name = check_name(key)
        for record_id, evaluation in finished_evaluations(instance, key, state.checks_after.get(name)):
            state.checks_after[name] = record_id
            # a check of an estate's clusters is red or green per cluster (its partition)
            subject = f"{name}@{evaluation.partition}" if evaluation.partition else name
            on = key.asset_key.to_user_string() + of_cluster(evaluation.partition)
            failing = subject in state.failing_checks
            if evaluation.passed == (not failing):
                continue
            if evaluation.passed:
                state.failing_checks.remove(subject)
                text = f"taskline's check `{key.name}` on {on} passes again"
            else:
                state.failing_checks.append(subject)
                level = evaluation.severity.value.lower()
                text = f"taskline's check `{key.name}` on {on} failed ({level})"
            messages.append(
                {
                    "kind": "check_passed" if evaluation.passed else "check_failed",
                    "text": f"{text}: {evaluation.description}" if evaluation.description else text,
                    "link": f"{ui}/assets/{key.asset_key.to_user_string()}?view=checks",
                    "check": key.name,
                    "asset": key.asset_key.to_user_string(),
                    "severity": None if evaluation.passed else evaluation.severity.value,
                }
            )
    return messages


def run_failure_messages(instance: dg.DagsterInstance, state: NotifierState, ui: str) -> list[dict[str, Any]]:
    cursor = EventLogCursor.from_storage_id(state.runs_after).to_string() if state.runs_after else None
    result = instance.fetch_run_status_changes(
        dg.DagsterEventType.RUN_FAILURE, limit=50, cursor=cursor, ascending=True
    )
    messages = []
    for record in result.records:
        state.runs_after = record.storage_id
        entry = record.event_log_entry
        job = entry.job_name or "a job"
        reason = entry.dagster_event.message if entry.dagster_event else ""
        run = instance.get_run_by_id(entry.run_id)
        cluster = run.tags.get(PARTITION_NAME_TAG) if run else None  # only Flower's runs have one: a cluster
        messages.append(
            {
                "kind": "run_failed",
                "text": f"taskline run of `{job}`{of_cluster(cluster)} failed (run {entry.run_id[:8]}): {reason}",
                "link": f"{ui}/runs/{entry.run_id}",
                "job": job,
                "run_id": entry.run_id,
            }
        )
    return messages


def delivery_problem(channel: Channel, message: dict[str, Any]) -> str | None:
    """None when the channel took the message, else why not (never the URL, which is a credential)."""
    try:
        answer = requests.post(channel.url(), json=channel.payload(message), timeout=DELIVERY_TIMEOUT_S)
    except requests.RequestException as error:
        return type(error).__name__  # its text carries the URL
    return None if answer.ok else f"HTTP {answer.status_code}"


def retry_delay(attempts: int) -> float:
    return min(RETRY_FIRST_S * 2 ** (attempts - 1), RETRY_MAX_S)


def deliver_due(state: NotifierState, channels: list[Channel], log) -> int:
    """Sends what is due, each channel in order (one that fails holds its later messages); returns how many."""
    by_name = {channel.name: channel for channel in channels}
    held, sent, started = set(), 0, time.monotonic()
    for pending in list(state.outbox):
        channel = by_name.get(pending.channel)
        if channel is None:  # its setting was removed: nowhere to send it
            state.outbox.remove(pending)
            continue
        if pending.channel in held or pending.next_attempt_at > time.time():
            held.add(pending.channel)
            continue
        if time.monotonic() - started > TICK_BUDGET_S:
            break
        problem = delivery_problem(channel, pending.message)
        if problem is None:
            state.outbox.remove(pending)
            sent += 1
            continue
        pending.attempts += 1
        delay = retry_delay(pending.attempts)
        pending.next_attempt_at = time.time() + delay
        held.add(pending.channel)
        log.warning(
            f"{channel.name} ({channel.setting}) did not take a message ({problem}); try {pending.attempts}, "
            f"next in {delay:.0f} s"
        )
    return sent


@dg.sensor(
    name="taskline_notifications",
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Sends failure and operations alerts as they open and resolve (to their owner's channels, "
        "TASKLINE_OWNER_SLACK_WEBHOOK_URLS / TASKLINE_OWNER_WEBHOOK_URLS, when it has any), failed runs, and "
        "taskline's own checks turning red or yellow (and passing again) to Slack "
        "(TASKLINE_SLACK_WEBHOOK_URL) and any JSON webhook (TASKLINE_WEBHOOK_URL), once each. A channel "
        "that is down is retried with back-off, in order."
    ),
)
def taskline_notifications(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    try:
        channels = configured_channels(settings.environment())
    except NotifyError as error:
        return dg.SkipReason(str(error))
    state = NotifierState.from_cursor(context.cursor)
    if state is None:
        context.update_cursor(starting_state(context.instance).to_cursor())
        return dg.SkipReason("Started: from now on, alerts and taskline's own failures are sent.")
    ui = ui_url(settings.environment())
    messages = [
        *alert_messages(context.instance, state, ui),
        *self_check_messages(context.instance, state, ui),
        *run_failure_messages(context.instance, state, ui),
    ]
    state.outbox.extend(
        Pending(channel.name, message)
        for message in messages
        for channel in channels_for(message.get("owner"), channels)
    )
    sent = deliver_due(state, channels, context.log)
    context.update_cursor(state.to_cursor())
    if not channels:
        return dg.SkipReason(
            f"{len(messages)} new messages, no channel configured (set {settings.SLACK_WEBHOOK_URL} or {settings.WEBHOOK_URL})."
        )
    return dg.SkipReason(f"{len(messages)} new messages; {sent} sent, {len(state.outbox)} waiting.")
