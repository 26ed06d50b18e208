"""Failure alerts end to end: a real Flower stack and the SQLFlow stand-in, the jobs in process on one Dagster
instance, the notifier sensor evaluated tick by tick (each from the cursor the last one stored, as the daemon
does across restarts) against real local HTTP receivers.

The phases move forward in time with workers under libfaketime: a capture of tasks two days old (stale: the
freshness check warns), ordinary runs now (the baseline), a burst of failures two hours ahead (one alert window
later; one failing task has no tables known), recovery four hours ahead while a worker two days behind runs
tasks below the walk's line (the completeness check fails), and a load with a longer look-back that brings them.
"""

import logging
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg
import pytest

import orchestration.alerts.notifier as notify
from demo.celery_app import make_app
from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import wait_until_flower_shows_final
from orchestration import settings
from orchestration.keys import ALERTS_CHECK, COMPLETENESS_CHECK, FRESHNESS_CHECK, OPERATIONS_CHECK
from tests.fixtures.deployments import deployment
from tests.fixtures.live_flower import libfaketime, send_without_sent_events
from tests.fixtures.receivers import Notifier, Receiver

pytestmark = pytest.mark.integration

SLACK_PATH = "/services/T0000/B0000/not-a-real-slack-secret"
HOOK_PATH = "/hooks/taskline-secret-token"
AT_RISK = (
    "At risk: `raw.orders` (written), `staging.orders_enriched` (depth 1), `analytics.customer_ltv` (depth 2), "
    "`analytics.daily_revenue` (depth 2), `reporting.exec_dashboard` (depth 3)."
)
OPENED = (
    "`etl.extract_orders` in cluster `default` failed 6 of 8 runs in the last hour (75%) — usually 0% (0 of 20 over the previous "
    "7 days). Mostly `ConnectionError: orders API unreachable in region 'apac' (batch 4)` (new: not raised in "
    f"the previous 7 days). {AT_RISK} Owner: ingest."
)
# edge.rejected is a task of the demo's Celery app that the demo's task_table_map does not name
UNMAPPED = (
    "`edge.rejected` in cluster `default` failed 3 of 3 runs in the last hour (100%) — no runs in the previous 7 "
    "days to compare with. Mostly `Reject: malformed payload` (new: not raised in the previous 7 days). At risk: "
    "no tables known for it: add it to dbt_project/seeds/task_table_map.csv."
)
FRESHNESS_RED = (
    "taskline's check `recent_task_events` on flower/tasks failed (warn): The newest task event is 48.0 h old "
    "(warn_after 24 h): is Flower still receiving events (workers started with -E)?"
)
FRESHNESS_GREEN = (
    "taskline's check `recent_task_events` on flower/tasks passes again: The newest task event is 0.0 h old."
)
# 45 tasks: 2 stale, 20 baseline, 11 in the spike, 10 in the recovery and the 2 late ones
COMPLETENESS_RED = (
    "taskline's check `every_task_in_flower_is_loaded` on flower/tasks failed (error): 2 of the 45 tasks checked "
    "(all the tasks Flower holds) are missing from the warehouse and 0 are older there than in Flower (samples in "
    "the metadata). Look for a worker clock far behind the loader's (raise SOURCES__FLOWER__LOOKBACK_MINUTES) and "
    "for the walk's notes."
)
COMPLETENESS_GREEN = (
    "taskline's check `every_task_in_flower_is_loaded` on flower/tasks passes again: All 45 tasks checked (all "
    "the tasks Flower holds) are in the warehouse, as new as Flower has them."
)
UI = "https://taskline.example.internal"


def send(stack: FlowerStack, region: str, count: int, queue: str, first_batch: int = 0) -> list[str]:
    client = make_app(stack.broker_url)
    try:
        batches = [4] * count if region == "apac" else range(first_batch, first_batch + count)
        task_ids = [
            client.send_task("etl.extract_orders", args=(batch, region), queue=queue).id for batch in batches
        ]
    finally:
        client.close()
    wait_until_flower_shows_final(stack, task_ids, timeout=120)
    return task_ids


def send_rejected(stack: FlowerStack, count: int, queue: str) -> list[str]:
    """`count` edge.rejected: each fails at once (Reject), a task the demo's task_table_map does not name."""
    client = make_app(stack.broker_url)
    try:
        task_ids = [client.send_task("edge.rejected", queue=queue).id for _ in range(count)]
    finally:
        client.close()
    wait_until_flower_shows_final(stack, task_ids, timeout=120)
    return task_ids


def kinds(bodies: list[dict]) -> list[str]:
    """What each message a receiver got was about (Slack's carry only text: told by how it starts)."""
    return [body.get("kind") or slack_kind(body["text"]) for body in bodies]


def slack_kind(text: str) -> str:
    if text.startswith(("[error] ", "[warn] ")):
        return "alert_opened"
    if text.startswith("Resolved"):
        return "alert_resolved"
    if text.startswith("taskline run"):
        return "run_failed"
    return "check_passed" if " passes again" in text else "check_failed"


def on_slack(text: str, asset: str) -> str:
    return f"{text} <{UI}/assets/{asset}?view=checks|Open in Dagster>"


def told(bodies: list[dict], check: dg.AssetCheckKey) -> list[str]:
    """What a receiver got about one of taskline's own checks, in order (Slack's messages name it in text)."""
    return [body["text"] for body in bodies if f"`{check.name}`" in body["text"]]


def evaluation(result: dg.ExecuteInProcessResult, key: dg.AssetCheckKey) -> dg.AssetCheckEvaluation:
    [evaluated] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == key]
    return evaluated


def alerts_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    return evaluation(result, ALERTS_CHECK)


class Records(logging.Handler):
    """Every log record while the scenario runs, as caplog would hold them for one test."""

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Scenario:
    """What each phase of the scenario left: the notifier's ticks, the alerts check's evaluations, and the
    messages each receiver had got by then."""

    started: str = ""
    stale_tick: str = ""
    slack_after_stale: list[dict] = field(default_factory=list)
    baseline: dg.AssetCheckEvaluation | None = None
    baseline_tick: str = ""
    slack_after_baseline: list[dict] = field(default_factory=list)
    spike: dg.AssetCheckEvaluation | None = None
    spike_tick: str = ""
    slack_after_spike: list[dict] = field(default_factory=list)
    webhook_up_tick: str = ""
    hook_after_webhook_up: list[dict] = field(default_factory=list)
    repeat_tick: str = ""
    recovered: dg.AssetCheckEvaluation | None = None
    recovered_tick: str = ""
    slack_after_recovery: list[dict] = field(default_factory=list)
    hook_after_recovery: list[dict] = field(default_factory=list)
    quiet_passed: bool | None = None
    quiet_tick: str = ""
    slack_after_quiet: list[dict] = field(default_factory=list)
    hook_after_quiet: list[dict] = field(default_factory=list)
    failed_success: bool | None = None
    failed_run_id: str = ""
    failed_tick: str = ""
    slack_after_failed_run: list[dict] = field(default_factory=list)
    hook_after_failed_run: list[dict] = field(default_factory=list)
    history: list[tuple] = field(default_factory=list)
    operations: list[tuple[bool, str]] = field(default_factory=list)
    late_task_ids: list[str] = field(default_factory=list)
    missing_sample: list[str] = field(default_factory=list)
    cursor: str = ""
    logged: list[str] = field(default_factory=list)
    records: list[logging.LogRecord] = field(default_factory=list)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    """One real stack, a stale capture, three phases in time (baseline, spike two hours ahead, recovery four hours
    ahead), a load that brings the tasks the recovery's missed, a failed capture: run once, every test asserts on
    what a phase left."""
    tmp_path = tmp_path_factory.mktemp("failure_alerts")
    slack, hook = Receiver(SLACK_PATH), Receiver(HOOK_PATH)
    skew = {"FAKETIME_DONT_FAKE_MONOTONIC": "1", "LD_PRELOAD": libfaketime()}
    seen = Scenario()
    records = Records()
    logging.getLogger().addHandler(records)
    try:
        with (
            pytest.MonkeyPatch.context() as monkeypatch,
            FlowerStack(tmp_path / "stack") as stack,
            SQLFlowStandIn() as sqlflow,
            dg.DagsterInstance.local_temp(str(tmp_path)) as instance,
        ):
            # what conftest's isolated_warehouse gives each test: this fixture outlives one test
            monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
            monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
            for name, value in demo_source_env(stack, sqlflow).items():
                monkeypatch.setenv(name, value)
            monkeypatch.setenv("SOURCES__FLOWER__LOOKBACK_MINUTES", "1")
            monkeypatch.setenv(settings.SLACK_WEBHOOK_URL, slack.url)
            monkeypatch.setenv(settings.WEBHOOK_URL, hook.url)
            monkeypatch.setenv(settings.UI_URL, UI)
            monkeypatch.setattr(notify, "RETRY_FIRST_S", 0.2)
            stack.start_worker(f"w-2h@{socket.gethostname()}", "two_hours_on", {**skew, "FAKETIME": "+2h"})
            stack.start_worker(f"w-4h@{socket.gethostname()}", "four_hours_on", {**skew, "FAKETIME": "+4h"})
            stack.start_worker(f"w-2d@{socket.gethostname()}", "two_days_back", {**skew, "FAKETIME": "-2d"})
            definitions = deployment("flower", "sqlflow")
            notifier = Notifier(instance)
            slack.start()  # Slack answers throughout; the webhook is down until the spike was sent

            def run(job: str) -> dg.ExecuteInProcessResult:
                result = definitions.resolve_job_def(job).execute_in_process(
                    instance=instance, raise_on_error=False
                )
                assert result.success or job == "flower_capture"
                if job == "flower_load":
                    checked = evaluation(result, OPERATIONS_CHECK)
                    seen.operations.append((checked.passed, checked.description))
                return result

            seen.started = notifier.tick()
            run("sqlflow_load")
            # the only tasks, two days old: the freshness check warns (the first capture reads them all)
            send_without_sent_events(stack, 2, queue="two_days_back")
            run("flower_capture")
            seen.stale_tick = notifier.tick()
            seen.slack_after_stale = slack.bodies()

            send(stack, "eu", 20, "celery")
            seen.baseline = alerts_check(run("flower_load"))
            seen.baseline_tick = notifier.tick()
            seen.slack_after_baseline = slack.bodies()

            send(stack, "apac", 6, "two_hours_on")
            send(stack, "eu", 2, "two_hours_on", first_batch=100)
            send_rejected(stack, 3, "two_hours_on")
            seen.spike = alerts_check(run("flower_load"))
            seen.spike_tick = notifier.tick()
            seen.slack_after_spike = slack.bodies()

            hook.start()
            time.sleep(notify.retry_delay(3) + 0.3)  # past the back-off of its third try (three ticks so far)
            seen.webhook_up_tick = notifier.tick()
            seen.hook_after_webhook_up = hook.bodies()
            seen.repeat_tick = notifier.tick()

            send(stack, "eu", 10, "four_hours_on", first_batch=200)
            # received two days back: below the walk's line, the completeness check finds them missing
            seen.late_task_ids = send_without_sent_events(stack, 2, queue="two_days_back")
            recovery = run("flower_load")
            seen.recovered = alerts_check(recovery)
            seen.missing_sample = evaluation(recovery, COMPLETENESS_CHECK).metadata["missing_sample"].value
            seen.recovered_tick = notifier.tick()
            seen.slack_after_recovery, seen.hook_after_recovery = slack.bodies(), hook.bodies()

            # what the completeness check's description says to do: a look-back past the late tasks brings them
            monkeypatch.setenv("SOURCES__FLOWER__LOOKBACK_MINUTES", str(3 * 24 * 60))
            quiet = alerts_check(run("flower_load"))
            seen.quiet_passed = quiet.passed
            seen.history = [
                (event["event_id"], event["event"], event["alert_id"])
                for event in quiet.metadata["alert_events"].value
            ]
            seen.quiet_tick = notifier.tick()
            seen.slack_after_quiet, seen.hook_after_quiet = slack.bodies(), hook.bodies()

            stack.stop_flower()
            failed = run("flower_capture")
            seen.failed_success, seen.failed_run_id = failed.success, failed.run_id
            seen.failed_tick = notifier.tick()
            seen.slack_after_failed_run, seen.hook_after_failed_run = slack.bodies(), hook.bodies()

            seen.cursor = notifier.cursor
            seen.logged = [
                str(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)
            ]
    finally:
        logging.getLogger().removeHandler(records)
        slack.stop()
        hook.stop()
    seen.records = records.records
    return seen


def test_the_notifier_starts_and_ordinary_runs_raise_no_alert(scenario):
    assert scenario.started == "Started: from now on, alerts and taskline's own failures are sent."
    baseline = scenario.baseline
    assert (baseline.passed, baseline.description) == (True, "No task's failures spike.")


def test_task_events_two_days_old_turn_the_freshness_check_yellow_then_green_once_each(scenario):
    assert scenario.stale_tick == "1 new messages; 1 sent, 1 waiting."  # the webhook is down
    assert [body["text"] for body in scenario.slack_after_stale] == [on_slack(FRESHNESS_RED, "flower/tasks")]
    assert scenario.baseline_tick == "1 new messages; 1 sent, 2 waiting."  # the baseline's tasks are fresh
    assert [body["text"] for body in scenario.slack_after_baseline[1:]] == [
        on_slack(FRESHNESS_GREEN, "flower/tasks")
    ]
    assert told(scenario.slack_after_failed_run, FRESHNESS_CHECK) == [
        on_slack(FRESHNESS_RED, "flower/tasks"),
        on_slack(FRESHNESS_GREEN, "flower/tasks"),
    ]
    hook = [body for body in scenario.hook_after_failed_run if body.get("check") == FRESHNESS_CHECK.name]
    assert [(body["kind"], body["severity"], body["text"]) for body in hook] == [
        ("check_failed", "WARN", FRESHNESS_RED),
        ("check_passed", None, FRESHNESS_GREEN),
    ]
    assert {(body["asset"], body["link"]) for body in hook} == {
        ("flower/tasks", f"{UI}/assets/flower/tasks?view=checks")
    }


def test_a_failure_spike_fails_the_alerts_check_with_an_alert_per_task(scenario):
    spike = scenario.spike
    assert (spike.passed, spike.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert spike.description == f"error: {UNMAPPED}\nerror: {OPENED}"
    alerts = spike.metadata["alerts"].value
    keys = ("task_name", "alert_level", "window_runs", "window_failures", "has_known_tables")
    assert [{key: alert[key] for key in keys} for alert in alerts] == [
        {"task_name": "edge.rejected", "alert_level": "error", "window_runs": 3, "window_failures": 3,
         "has_known_tables": False},
        {"task_name": "etl.extract_orders", "alert_level": "error", "window_runs": 8, "window_failures": 6,
         "has_known_tables": True},
    ]  # fmt: skip
    assert spike.metadata["tasks_without_known_tables"].value == ["edge.rejected (cluster default)"]


def test_the_spike_reaches_slack_at_once_and_waits_for_the_webhook_that_is_down(scenario):
    # the workers two and four hours ahead start their attempts outside the interval of their snapshots:
    # the coverage check warns, as its description says clock skew makes it, and that is news too
    assert scenario.spike_tick == "3 new messages; 3 sent, 5 waiting."  # the webhook is down
    slack_bodies = scenario.slack_after_spike
    assert kinds(slack_bodies)[2:] == ["alert_opened", "alert_opened", "check_failed"]
    assert slack_bodies[2]["text"] == on_slack(f"[error] {UNMAPPED}", "marts/task_failure_alerts")
    assert slack_bodies[3]["text"] == on_slack(f"[error] {OPENED}", "marts/task_failure_alerts")
    assert slack_bodies[4]["text"].startswith(
        "taskline's check `task_attempts_coverage` on marts/task_coverage_hourly failed (warn): 11 of 11 task "
        "attempts the workers counted since their previous snapshot are not in the warehouse"
    )


def test_the_webhook_gets_the_waiting_messages_once_it_is_up_and_nothing_twice(scenario):
    assert scenario.webhook_up_tick == "0 new messages; 5 sent, 0 waiting."
    assert kinds(scenario.hook_after_webhook_up) == [
        "check_failed", "check_passed", "alert_opened", "alert_opened", "check_failed",
    ]  # fmt: skip
    opened = scenario.hook_after_webhook_up[3]
    assert {key: opened[key] for key in ("source", "task_name", "event", "alert_level", "text")} == {
        "source": "taskline",
        "task_name": "etl.extract_orders",
        "event": "opened",
        "alert_level": "error",
        "text": f"[error] {OPENED}",
    }
    assert (opened["window_runs"], opened["window_failures"], opened["baseline_runs"]) == (8, 6, 20)
    assert opened["tables_at_risk"] == [
        "raw.orders (written)",
        "staging.orders_enriched (depth 1)",
        "analytics.customer_ltv (depth 2)",
        "analytics.daily_revenue (depth 2)",
        "reporting.exec_dashboard (depth 3)",
    ]
    assert scenario.repeat_tick == "0 new messages; 0 sent, 0 waiting."  # nothing twice


def test_a_task_with_no_tables_known_alerts_on_every_channel_as_the_check_says(scenario):
    unmapped = scenario.hook_after_webhook_up[2]
    fields = ("task_name", "cluster", "event", "alert_level", "has_known_tables", "tables_at_risk", "text")
    assert {key: unmapped[key] for key in fields} == {
        "task_name": "edge.rejected",
        "cluster": "default",
        "event": "opened",
        "alert_level": "error",
        "has_known_tables": False,
        "tables_at_risk": [],
        "text": f"[error] {UNMAPPED}",
    }
    assert scenario.slack_after_spike[2]["text"] == on_slack(
        f"[error] {UNMAPPED}", "marts/task_failure_alerts"
    )


def test_recovery_resolves_each_alert_once_on_every_channel(scenario):
    recovered = scenario.recovered
    assert (recovered.passed, recovered.description) == (True, "No task's failures spike.")
    # two resolved and the completeness check failing; coverage still warns: not again
    assert scenario.recovered_tick == "3 new messages; 6 sent, 0 waiting."
    opened = scenario.hook_after_webhook_up[3]
    since = datetime.fromisoformat(opened["opened_at"]).isoformat(timespec="minutes")
    gone = (
        f"Resolved: `edge.rejected` in cluster `default` (alerting since {since}) ran no more in the window."
    )
    resolved = (
        f"Resolved (alerting since {since}): `etl.extract_orders` in cluster `default` failed 0 of 10 runs in the last hour (0%) "
        "— usually 21% (6 of 28 over the previous 7 days). Owner: ingest."
    )
    slack_bodies, hook_bodies = scenario.slack_after_recovery, scenario.hook_after_recovery
    assert kinds(slack_bodies)[5:7] == kinds(hook_bodies)[5:7] == ["alert_resolved", "alert_resolved"]
    assert [body["text"] for body in slack_bodies[5:7]] == [
        on_slack(gone, "marts/task_failure_alerts"),
        on_slack(resolved, "marts/task_failure_alerts"),
    ]
    assert [body["text"] for body in hook_bodies[5:7]] == [gone, resolved]
    assert hook_bodies[5]["alert_id"] == scenario.hook_after_webhook_up[2]["alert_id"]
    assert hook_bodies[6]["alert_id"] == opened["alert_id"]


def test_tasks_received_below_the_walks_line_fail_the_completeness_check_until_a_longer_look_back(scenario):
    assert sorted(scenario.missing_sample) == sorted(scenario.late_task_ids)
    assert scenario.slack_after_recovery[7]["text"] == on_slack(COMPLETENESS_RED, "flower/tasks")
    assert scenario.slack_after_quiet[8]["text"] == on_slack(COMPLETENESS_GREEN, "flower/tasks")
    assert told(scenario.slack_after_failed_run, COMPLETENESS_CHECK) == [
        on_slack(COMPLETENESS_RED, "flower/tasks"),
        on_slack(COMPLETENESS_GREEN, "flower/tasks"),
    ]
    hook = [body for body in scenario.hook_after_failed_run if body.get("check") == COMPLETENESS_CHECK.name]
    assert [(body["kind"], body["severity"], body["text"]) for body in hook] == [
        ("check_failed", "ERROR", COMPLETENESS_RED),
        ("check_passed", None, COMPLETENESS_GREEN),
    ]


def test_a_load_with_no_new_task_in_the_window_keeps_the_alerts_resolved_and_the_checks_pass_again(scenario):
    assert scenario.quiet_passed  # only the late tasks, two days old: the alerts stay resolved
    # the late tasks loaded: completeness passes; no attempt now: coverage passes
    assert scenario.quiet_tick == "2 new messages; 4 sent, 0 waiting."
    assert kinds(scenario.slack_after_quiet)[8:] == kinds(scenario.hook_after_quiet)[8:] == [
        "check_passed", "check_passed",
    ]  # fmt: skip
    assert scenario.hook_after_quiet[9]["check"] == "task_attempts_coverage"


def test_a_failed_run_is_told_on_every_channel(scenario):
    assert not scenario.failed_success
    assert scenario.failed_tick == "1 new messages; 2 sent, 0 waiting."
    slack_bodies, hook_bodies = scenario.slack_after_failed_run, scenario.hook_after_failed_run
    run_id = scenario.failed_run_id
    assert kinds(slack_bodies)[10:] == kinds(hook_bodies)[10:] == ["run_failed"]
    assert hook_bodies[10]["run_id"] == run_id
    assert hook_bodies[10]["text"].startswith(f"taskline run of `flower_capture` failed (run {run_id[:8]}): ")
    assert slack_bodies[10]["text"].endswith(f"<{UI}/runs/{run_id}|Open in Dagster>")


def test_the_alert_history_holds_each_opening_and_resolution(scenario):
    unmapped, orders = (body["alert_id"] for body in scenario.hook_after_webhook_up[2:4])
    assert scenario.history == [
        (1, "opened", unmapped), (2, "opened", orders), (3, "resolved", unmapped), (4, "resolved", orders),
    ]  # fmt: skip


def test_webhook_urls_are_nowhere_but_in_the_environment(scenario):
    """Webhook URLs are credentials."""
    for secret in (SLACK_PATH, HOOK_PATH):
        assert secret not in scenario.cursor
        # the receivers' own request log (werkzeug) shows where they were posted to; taskline's shows nothing
        assert not [r for r in scenario.records if r.name != "werkzeug" and secret in r.getMessage()]
        assert not [entry for entry in scenario.logged if secret in entry]


def test_workers_hours_ahead_and_days_behind_bursts_and_failures_open_no_operations_alert(scenario):
    """The acceptance workload's no-false-alarm side: none of the silent-failure rules opens."""
    quiet = "No periodic task overdue, no task stuck, no worker down, no queue backing up."
    assert scenario.operations == [(True, quiet)] * 4
