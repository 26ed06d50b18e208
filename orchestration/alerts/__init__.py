"""Alerts: the failure-spike check on the alerts mart, the operations check (overdue periodic tasks, stuck tasks,
workers down, queues backing up), and the sensor that tells their owners' channels about them and about
taskline's own failing checks (may import warehouse/, runs/ and keys; not ingest/, dbt/ or serve/).

check (the `task_failure_alerts_open` asset check), operations (`operations_alerts_open`), owners (seed
task_owners, who gets what), notifier (the `taskline_notifications` sensor), channels
(Slack and webhook URLs from the environment; no Dagster, so `make serve` can check them).
"""

import dagster as dg

from orchestration.alerts.check import task_failure_alerts_open
from orchestration.alerts.notifier import taskline_notifications
from orchestration.alerts.operations import operations_alerts_open


def defs(with_flower: bool) -> dg.Definitions:
    """The notifier always (it reports any source's failing checks); the alerts checks when Flower is loaded."""
    return dg.Definitions(
        asset_checks=[task_failure_alerts_open, operations_alerts_open] if with_flower else [],
        sensors=[taskline_notifications],
    )
