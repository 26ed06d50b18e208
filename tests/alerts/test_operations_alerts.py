"""The failures that raise no failure, end to end: one real cluster (`scheduler`: Redis, three workers, Celery beat,
Flower), captures and marts in process on one Dagster instance, the notifier ticked after each phase, three
real HTTP receivers (the default channel and the owners `ingest` and `payments`).

Thresholds are shortened with TASKLINE_DBT_VARS so the scenario takes minutes, not hours:
1. beat sends `etl.extract_customers` every 20 s (learned: periodic) and `etl.sync_exchange_rates` every 30 s
   (declared in the demo's seed task_schedules for cluster scheduler, grace 15 s); a task blocks on its gate
   past the stuck limit -> stuck alert;
2. beat stops, the gate opens, a worker is paused (SIGSTOP) while tasks pile up on its queue, another is
   killed with `kill -9` mid-task -> both periodic tasks overdue, the gate's alert resolved, both workers down,
   the killed one's task lost, the queue backing up;
3. beat restarts, the paused worker resumes, the killed one restarts -> every alert resolved;
4. no false alarms: a deploy (the main worker restarted), Flower restarted (all its state gone) after a task it
   showed running finished unseen, an irregular burst -> nothing opens.
"""

import signal
import socket
import time
from dataclasses import dataclass, field

import dagster as dg
import pytest

from demo.celery_app import make_app
from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import wait_until_flower_shows_final, wait_until_started
from orchestration import settings
from orchestration.alerts.check import TASK_TABLE_MAP
from orchestration.keys import OPERATIONS_CHECK
from tests.fixtures.deployments import deployment
from tests.fixtures.receivers import Notifier, Receiver

pytestmark = pytest.mark.integration

CLUSTER = "scheduler"
WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR
QUIET = "No periodic task overdue, no task stuck, no worker down, no queue backing up."
THRESHOLDS = (
    "{periodic_min_runs: 4, periodic_min_grace_seconds: 10, stuck_min_minutes: 0.25, "
    "worker_offline_tolerance_minutes: 0.25, queue_growth_snapshots: 3, queue_growth_min_minutes: 0}"
)
BEAT = {"etl.extract_customers": {"every": 20, "args": [7]}, "etl.sync_exchange_rates": {"every": 30}}
HOST = socket.gethostname()
PAUSED, DOOMED = f"w-paused@{HOST}", f"w-doomed@{HOST}"


@dataclass
class Phase:
    """What one phase left: the operations check's evaluation and the notifier's tick."""

    passed: bool
    severity: dg.AssetCheckSeverity | None
    description: str
    alerts: list[dict]
    tick: str


@dataclass
class Scenario:
    phases: list[Phase] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    default: list[dict] = field(default_factory=list)
    ingest: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)


def pile_up(stack: FlowerStack, count: int) -> None:
    client = make_app(stack.broker_url)
    try:
        for n in range(count):
            client.send_task("etl.extract_orders", args=(n,), queue="backlog")
    finally:
        client.close()


def offline_in_flower(stack: FlowerStack, worker: str) -> bool:
    return stack.api_get("/api/workers", params={"status": 1}).json().get(worker) is False


def wait(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    tmp_path = tmp_path_factory.mktemp("operations_alerts")
    default, ingest, payments = (
        Receiver("/hooks/default"),
        Receiver("/hooks/ingest"),
        Receiver("/hooks/payments"),
    )
    seen = Scenario()
    gate = tmp_path / "gate"
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        FlowerStack(tmp_path / "stack", concurrency=3) as stack,
        SQLFlowStandIn() as sqlflow,
        dg.DagsterInstance.local_temp(str(tmp_path)) as instance,
    ):
        monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
        monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
        for name, value in demo_source_env(stack, sqlflow).items():
            if not name.startswith("SOURCES__FLOWER__"):
                monkeypatch.setenv(name, value)
        prefix = f"SOURCES__FLOWER__CLUSTERS__{CLUSTER.upper()}__"
        monkeypatch.setenv(f"{prefix}BASE_URL", stack.base_url)
        monkeypatch.setenv(f"{prefix}USERNAME", stack.username)
        monkeypatch.setenv(f"{prefix}PASSWORD", stack.password)
        monkeypatch.setenv(settings.DBT_VARS, THRESHOLDS)
        monkeypatch.setenv(settings.WEBHOOK_URL, default.url)
        monkeypatch.setenv(settings.OWNER_WEBHOOK_URLS, f"ingest={ingest.url} payments={payments.url}")
        for receiver in (default, ingest, payments):
            receiver.start()
        definitions = deployment("flower", "sqlflow")
        notifier = Notifier(instance)

        def capture() -> None:
            job = definitions.resolve_job_def("flower_capture")
            assert job.execute_in_process(instance=instance, partition_key=CLUSTER).success

        def phase() -> None:
            capture()
            result = definitions.resolve_job_def("flower_marts").execute_in_process(instance=instance)
            assert result.success
            [evaluation] = [
                one for one in result.get_asset_check_evaluations() if one.asset_check_key == OPERATIONS_CHECK
            ]
            seen.phases.append(
                Phase(
                    evaluation.passed,
                    evaluation.severity if not evaluation.passed else None,
                    evaluation.description,
                    evaluation.metadata["alerts"].value,
                    notifier.tick(),
                )
            )
            seen.events = evaluation.metadata["alert_events"].value

        try:
            assert definitions.resolve_job_def("sqlflow_load").execute_in_process(instance=instance).success
            notifier.tick()
            paused = stack.start_worker(PAUSED, "backlog")
            doomed = stack.start_worker(DOOMED, "doomed")
            client = stack.celery()
            stack.start_beat(BEAT)
            seen.ids["gate"] = client.send_task("etl.export_ledger", args=(str(gate),)).id
            wait_until_started(stack, seen.ids["gate"])
            time.sleep(85)  # four of beat's 20 s runs, three of its 30 s ones; the gate's task past 15 s
            phase()  # 1

            stack.stop_beat()
            gate.touch()
            wait_until_flower_shows_final(stack, [seen.ids["gate"]])
            seen.ids["long"] = client.send_task("edge.sleeps", args=(600,), queue="doomed").id
            wait_until_started(stack, seen.ids["long"])
            paused.signal(signal.SIGSTOP)
            capture()  # the long task in its worker's active list
            doomed.signal(signal.SIGKILL)  # mid-task
            pile_up(stack, 5)
            wait(lambda: offline_in_flower(stack, DOOMED))
            time.sleep(20)
            capture()
            pile_up(stack, 5)
            time.sleep(25)  # past both periodic tasks' due time and grace, both workers past 15 s
            phase()  # 2

            stack.start_beat(BEAT)
            paused.signal(signal.SIGCONT)
            stack.restart_extra_worker(DOOMED, doomed)
            time.sleep(25)  # beat sends what is due at once, the backlog drains
            phase()  # 3

            gate.unlink()
            seen.ids["unseen"] = client.send_task("etl.export_ledger", args=(str(gate),)).id
            wait_until_started(stack, seen.ids["unseen"])
            capture()  # the warehouse holds it running
            stack.stop_flower()
            gate.touch()  # it finishes while Flower is down: its end is never seen
            time.sleep(2)
            stack.start_flower()
            stack.restart_worker()  # a deploy
            for n in (0, 1, 2, 3, 10, 11, 30):  # an irregular burst
                client.send_task("etl.extract_orders", args=(n,))
                time.sleep(n / 10)
            time.sleep(20)
            phase()  # 4
        finally:
            seen.default, seen.ingest, seen.payments = default.bodies(), ingest.bodies(), payments.bodies()
            for receiver in (default, ingest, payments):
                receiver.stop()
    return seen


def said(bodies: list[dict]) -> list[tuple[str, str, str]]:
    return [(body["kind"], body["rule"], body["subject"]) for body in bodies]


def alerting(phase: Phase) -> dict[tuple[str, str], dict]:
    return {(alert["rule"], alert["subject"]): alert for alert in phase.alerts}


def test_a_task_blocked_past_its_limit_is_stuck_while_beat_runs_on_time(scenario):
    first = scenario.phases[0]
    assert (first.passed, first.severity, first.tick) == (False, WARN, "1 new messages; 1 sent, 0 waiting.")
    [(key, stuck)] = alerting(first).items()
    assert key == ("stuck_tasks", "etl.export_ledger")
    assert (stuck["alert_level"], stuck["task_count"], stuck["lost_task_count"]) == ("warn", 1, 0)
    assert (stuck["sample_task_ids"], stuck["threshold_seconds"]) == (scenario.ids["gate"], 15.0)
    assert stuck["age_seconds"] >= 85
    assert first.description == f"warn: {stuck['text']}"
    assert stuck["text"] == (
        f"`etl.export_ledger` in cluster `scheduler`: 1 stuck, the oldest for {round(stuck['age_seconds'])} s "
        f"(limit 15 s). Tasks: {scenario.ids['gate']}. No tables known for it: add it to {TASK_TABLE_MAP}."
    )


def test_beat_stopped_a_worker_paused_and_one_killed_mid_task_open_their_alerts(scenario):
    second = scenario.phases[1]
    assert (second.passed, second.severity, second.tick) == (
        False,
        ERROR,
        "7 new messages; 7 sent, 0 waiting.",
    )
    alerts = alerting(second)
    assert {key: alert["alert_level"] for key, alert in alerts.items()} == {
        ("worker_offline", PAUSED): "error",
        ("worker_offline", DOOMED): "error",
        ("stuck_tasks", "edge.sleeps"): "error",
        ("overdue_periodic_task", "etl.extract_customers"): "warn",
        ("overdue_periodic_task", "etl.sync_exchange_rates"): "warn",
        ("queue_backlog", "backlog"): "warn",
    }
    learned = alerts[("overdue_periodic_task", "etl.extract_customers")]
    assert (learned["schedule_source"], learned["owner"]) == ("learned", "ingest")
    # beat's cadence as its runs show it: 20 s, to its clock's jitter; the grace half of it, at least 10 s
    assert abs(learned["interval_seconds"] - 20) < 1 and abs(learned["threshold_seconds"] - 10) < 0.5
    assert learned["text"].endswith(
        "Going stale: `raw.customers` (written), `staging.orders_enriched` (depth 1), `analytics.customer_ltv` "
        "(depth 2), `analytics.daily_revenue` (depth 2), `reporting.exec_dashboard` (depth 3). Owner: ingest."
    )
    declared = alerts[("overdue_periodic_task", "etl.sync_exchange_rates")]
    assert (declared["schedule_source"], declared["interval_seconds"], declared["threshold_seconds"]) == (
        "declared", 30.0, 15.0,
    )  # fmt: skip
    assert " it is declared to run every 30 s, so a run was due at " in declared["text"]
    assert declared["text"].endswith("Going stale: `raw.exchange_rates` (written). Owner: payments.")
    queue = alerts[("queue_backlog", "backlog")]
    assert (queue["messages"], queue["messages_before"], queue["task_count"], queue["owner"]) == (
        10,
        0,
        3,
        None,
    )
    doomed = alerts[("worker_offline", DOOMED)]
    assert (doomed["lost_task_count"], doomed["sample_task_ids"]) == (1, scenario.ids["long"])
    assert f"It was running 1 task(s): {scenario.ids['long']}." in doomed["text"]
    lost = alerts[("stuck_tasks", "edge.sleeps")]
    assert (lost["task_count"], lost["lost_task_count"]) == (0, 1)
    assert lost["text"].startswith(
        "`edge.sleeps` in cluster `scheduler`: 1 lost with their worker (gone offline while they ran). "
        f"Tasks: {scenario.ids['long']}."
    )
    assert second.description.split("\n")[0].startswith("error: ")


def test_beat_restarted_workers_back_and_the_queue_drained_resolve_every_alert(scenario):
    third = scenario.phases[2]
    assert (third.passed, third.alerts, third.tick) == (True, [], "6 new messages; 6 sent, 0 waiting.")
    assert third.description == QUIET
    resolved = {(event["rule"], event["subject"]): event["text"] for event in scenario.events[-6:]}
    assert (
        "` in cluster `scheduler` ran again at 2026"
        in resolved[("overdue_periodic_task", "etl.extract_customers")]
    )
    assert resolved[("worker_offline", DOOMED)].endswith(
        f"worker `{DOOMED}` in cluster `scheduler` is back online."
    )
    assert resolved[("queue_backlog", "backlog")].endswith(
        "queue `backlog` in cluster `scheduler` holds 0 messages, no longer growing."
    )


def test_a_deploy_flowers_restart_and_a_burst_open_nothing(scenario):
    fourth = scenario.phases[3]
    assert (fourth.passed, fourth.description, fourth.tick) == (
        True,
        QUIET,
        "0 new messages; 0 sent, 0 waiting.",
    )


def test_each_owner_gets_only_its_own_alerts_once_and_the_rest_go_to_the_default_channel(scenario):
    assert said(scenario.ingest) == [
        ("alert_opened", "overdue_periodic_task", "etl.extract_customers"),
        ("alert_resolved", "overdue_periodic_task", "etl.extract_customers"),
    ]
    assert said(scenario.payments) == [
        ("alert_opened", "overdue_periodic_task", "etl.sync_exchange_rates"),
        ("alert_resolved", "overdue_periodic_task", "etl.sync_exchange_rates"),
    ]
    assert sorted(said(scenario.default)) == sorted(
        [
            (kind, rule, subject)
            for rule, subject in (
                ("stuck_tasks", "etl.export_ledger"),
                ("stuck_tasks", "edge.sleeps"),
                ("worker_offline", PAUSED),
                ("worker_offline", DOOMED),
                ("queue_backlog", "backlog"),
            )
            for kind in ("alert_opened", "alert_resolved")
        ]
    )
    assert {body["owner"] for body in scenario.ingest} == {"ingest"}
    assert {body["owner"] for body in scenario.default} == {None}


def test_the_history_holds_each_alert_opened_and_resolved_once(scenario):
    events = [(event["alert_id"], event["event"]) for event in scenario.events]
    assert len(events) == len(set(events)) == 14
    assert sorted(event for _, event in events) == ["opened"] * 7 + ["resolved"] * 7
