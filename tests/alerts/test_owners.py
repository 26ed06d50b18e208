"""Who gets an alert: owners' patterns, their channel settings, and the sentences of the operations rules
(pure functions; the whole path over real HTTP is tests/alerts/test_operations_alerts.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from orchestration import settings
from orchestration.alerts.channels import NotifyError, channels_for, configured_channels
from orchestration.alerts.operations import alert_sentence, duration, event_sentence
from orchestration.alerts.owners import Ownership, owner_of, with_owners

OWNERSHIPS = sorted(
    [
        Ownership("etl.*", "data", None),
        Ownership("etl.billing_*", "payments", None),
        Ownership("etl.billing_*", "billing-eu", "eu"),
        Ownership("queue:reports", "analytics", None),
        Ownership("worker:*", "platform", None),
    ],
    key=lambda one: (-len(one.pattern), one.cluster is None, one.pattern),
)
HOOKS = "https://hooks.example/"
AT = datetime(2026, 12, 5, 21, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("subject", "cluster", "owner"),
    [
        ("etl.billing_export", "us", "payments"),  # the longest pattern wins
        ("etl.billing_export", "eu", "billing-eu"),  # as long: the cluster's own row first
        ("etl.load_orders", "us", "data"),
        ("etl_load", "us", None),  # `.` is no wildcard
        ("reports.daily", "us", None),  # a task, not the queue of that name
        ("queue:reports", "us", "analytics"),
        ("worker:celery@node1", "us", "platform"),
    ],
)
def test_the_most_specific_pattern_owns_a_subject(subject, cluster, owner):
    assert owner_of(subject, cluster, OWNERSHIPS) == owner


def test_each_rules_subject_is_matched_as_its_kind():
    rows = with_owners(
        [
            {"rule": "worker_offline", "cluster": "us", "subject": "celery@node1"},
            {"rule": "queue_backlog", "cluster": "us", "subject": "reports"},
            {"rule": "stuck_tasks", "cluster": "us", "subject": "etl.billing_export"},
            {"cluster": "eu", "task_name": "etl.billing_export"},  # a failure spike's row
        ],
        OWNERSHIPS,
    )
    assert [row["owner"] for row in rows] == ["platform", "analytics", "payments", "billing-eu"]


def test_an_owners_alert_goes_to_its_channels_and_anyone_elses_to_the_default_ones():
    channels = configured_channels(
        {
            settings.WEBHOOK_URL: HOOKS + "default",
            settings.OWNER_WEBHOOK_URLS: f"payments={HOOKS}payments  data={HOOKS}data",
            settings.OWNER_SLACK_WEBHOOK_URLS: f"payments={HOOKS}slack",
        }
    )
    assert [channel.name for channel in channels] == [
        "webhook",
        "slack:payments",
        "webhook:payments",
        "webhook:data",
    ]
    assert [channel.name for channel in channels_for("payments", channels)] == [
        "slack:payments",
        "webhook:payments",
    ]
    assert [channel.name for channel in channels_for("analytics", channels)] == [
        "webhook"
    ]  # no channel of its own
    assert [channel.name for channel in channels_for(None, channels)] == ["webhook"]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (f"{HOOKS}x", "TASKLINE_OWNER_WEBHOOK_URLS: entry 1 is not `owner=URL`"),
        (f"data={HOOKS}x pay ments={HOOKS}y", "TASKLINE_OWNER_WEBHOOK_URLS: entry 2 is not `owner=URL`"),
        (
            "data=hooks.example/secret-token",
            "TASKLINE_OWNER_WEBHOOK_URLS: the URL of owner `data` is not an http(s) URL.",
        ),
    ],
)
def test_a_malformed_owner_setting_names_the_entry_never_the_url(given, said):
    with pytest.raises(NotifyError) as error:
        configured_channels({settings.OWNER_WEBHOOK_URLS: given})
    assert str(error.value).startswith(said)
    assert "hooks.example" not in str(error.value)


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (0, 45.4, 119, 120, 7199, 7200, 11100, 172800, 190800)] == [
        "0 s", "45 s", "119 s", "2 min", "119 min", "2 h", "3 h 5 min", "2 days", "2 days 5 h",
    ]  # fmt: skip


def test_each_rule_says_what_is_wrong_and_whose_it_is():
    overdue = {
        "rule": "overdue_periodic_task", "cluster": "billing", "subject": "etl.sync_rates", "alert_level": "warn",
        "observed_at": AT, "since_at": AT - timedelta(minutes=50), "due_at": AT - timedelta(minutes=20),
        "schedule": None, "schedule_source": "learned", "interval_seconds": 1800.0, "threshold_seconds": 900.0,
        "age_seconds": 3000.0, "tables_at_risk": "raw.rates (written), marts.revenue (depth 1)",
        "has_known_tables": True, "owner": "payments",
    }  # fmt: skip
    assert alert_sentence(overdue) == (
        "`etl.sync_rates` in cluster `billing` is overdue: it last ran at 2026-12-05 20:10:30 UTC, 50 min ago; it "
        "runs every 30 min (learned from its runs), so a run was due at 2026-12-05 20:40:30 UTC (grace 15 min). "
        "Going stale: `raw.rates` (written), `marts.revenue` (depth 1). Owner: payments."
    )
    cron = {**overdue, "schedule_source": "declared", "schedule": "0 3 * * *", "interval_seconds": None,
            "since_at": None, "tables_at_risk": None, "has_known_tables": False, "owner": None}  # fmt: skip
    assert alert_sentence(cron) == (
        "`etl.sync_rates` in cluster `billing` is overdue: no run in what taskline keeps of the last days; it is "
        "declared to run on cron `0 3 * * *` (UTC). No tables known for it: add it to "
        "dbt_project/seeds/task_table_map.csv."
    )
    stuck = {"rule": "stuck_tasks", "cluster": "default", "subject": "etl.export", "task_count": 2,
             "lost_task_count": 1, "age_seconds": 5400.0, "threshold_seconds": 1800.0,
             "sample_task_ids": "a1,b2,c3", "tables_at_risk": "reporting.export (written)", "has_known_tables": True}  # fmt: skip
    assert alert_sentence(stuck) == (
        "`etl.export` in cluster `default`: 2 stuck, the oldest for 90 min (limit 30 min) and 1 lost with their "
        "worker (gone offline while they ran). Tasks: a1, b2, c3. At risk: `reporting.export` (written)."
    )
    queue = {"rule": "queue_backlog", "cluster": "default", "subject": "reports", "messages": 12500,
             "messages_before": 300, "since_at": AT - timedelta(minutes=20), "event_at": AT, "task_count": 5}  # fmt: skip
    assert alert_sentence(queue) == (
        "Queue `reports` in cluster `default` is backing up: 12,500 messages waiting, from 300 20 min earlier "
        "(5 snapshots)."
    )
    resolved = {**queue, "event": "resolved", "opened_at": AT - timedelta(hours=1), "messages": 0}
    assert event_sentence(resolved) == (
        "Resolved (alerting since 2026-12-05T20:00+00:00): queue `reports` in cluster `default` holds 0 messages, "
        "no longer growing."
    )
    gone = {**resolved, "rule": "stuck_tasks", "subject": "etl.export", "messages": None, "age_seconds": None}
    assert event_sentence(gone) == (
        "Resolved (alerting since 2026-12-05T20:00+00:00): `etl.export` in cluster `default` has no task stuck or "
        "lost any more."
    )
