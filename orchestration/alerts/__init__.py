"""Alerts: the failure-spike check on the alerts mart, and the sensor that tells the team's channels about it
and about taskline's own failing checks (may import warehouse/, runs/ and keys; not ingest/, dbt/ or serve/).

check (the `task_failure_alerts_open` asset check), notifier (the `taskline_notifications` sensor), channels
(Slack and webhook URLs from the environment; no Dagster, so `make serve` can check them).
"""

import dagster as dg

from orchestration.alerts.check import task_failure_alerts_open
from orchestration.alerts.notifier import taskline_notifications


def defs(with_flower: bool) -> dg.Definitions:
    """The notifier always (it reports any source's failing checks); the alerts check when Flower is loaded."""
    return dg.Definitions(
        asset_checks=[task_failure_alerts_open] if with_flower else [], sensors=[taskline_notifications]
    )
