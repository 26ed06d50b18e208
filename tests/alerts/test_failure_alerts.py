"""Failure alerts end to end: a real Flower stack and the SQLFlow stand-in, the jobs in process on one Dagster
instance, the notifier sensor evaluated tick by tick (each from the cursor the last one stored, as the daemon
does across restarts) against real local HTTP receivers.

The phases move forward in time with workers under libfaketime: ordinary runs now (the baseline), a burst
of failures two hours ahead (one alert window later), recovery four hours ahead.
"""

import json
import socket
import time
from datetime import datetime

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

import orchestration.alerts.notifier as notify
from demo.celery_app import make_app
from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack, free_port
from demo.workload import wait_until_flower_shows_final
from orchestration.alerts.channels import SLACK_WEBHOOK_URL, UI_URL, WEBHOOK_URL
from orchestration.keys import ALERTS_CHECK
from tests.fixtures.deployments import deployment
from tests.fixtures.live_flower import libfaketime

pytestmark = pytest.mark.integration

SLACK_PATH = "/services/T0000/B0000/not-a-real-slack-secret"
HOOK_PATH = "/hooks/taskline-secret-token"
AT_RISK = (
    "At risk: `raw.orders` (written), `staging.orders_enriched` (depth 1), `analytics.customer_ltv` (depth 2), "
    "`analytics.daily_revenue` (depth 2), `reporting.exec_dashboard` (depth 3)."
)
OPENED = (
    "`etl.extract_orders` failed 6 of 8 runs in the last hour (75%) — usually 0% (0 of 20 over the previous "
    "7 days). Mostly `ConnectionError: orders API unreachable in region 'apac' (batch 4)` (new: not raised in "
    f"the previous 7 days). {AT_RISK}"
)
UI = "https://taskline.example.internal"


class Receiver:
    """A real HTTP server taking webhook posts, started on a fixed port when asked (down until then)."""

    def __init__(self, path: str):
        self.path, self.port, self.server = path, free_port(), None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=self.port)
        self.server.expect_request(self.path, method="POST").respond_with_data("ok")
        self.server.start()

    def bodies(self) -> list[dict]:
        return [json.loads(request.get_data()) for request, _ in self.server.log] if self.server else []

    def stop(self) -> None:
        if self.server and self.server.is_running():
            self.server.stop()


class Notifier:
    """The sensor, tick after tick, each from the cursor the previous one stored (nothing else survives)."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance, self.cursor = instance, None

    def tick(self) -> str:
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor)
        skipped = notify.taskline_notifications(context)
        self.cursor = context.cursor
        return skipped.skip_message


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


def kinds(receiver: Receiver) -> list[str]:
    """What each message a receiver got was about (Slack's carry only text: told by how it starts)."""
    return [body.get("kind") or slack_kind(body["text"]) for body in receiver.bodies()]


def slack_kind(text: str) -> str:
    if text.startswith(("[error] ", "[warn] ")):
        return "alert_opened"
    if text.startswith("Resolved"):
        return "alert_resolved"
    if text.startswith("taskline run"):
        return "run_failed"
    return "check_passed" if " passes again" in text else "check_failed"


def alerts_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == ALERTS_CHECK]
    return evaluation


@pytest.fixture
def receivers():
    slack, hook = Receiver(SLACK_PATH), Receiver(HOOK_PATH)
    yield slack, hook
    slack.stop()
    hook.stop()


def test_a_failure_spike_opens_one_alert_and_resolves_it_once_on_every_channel(
    tmp_path, monkeypatch, receivers, caplog
):
    slack, hook = receivers
    skew = {"FAKETIME_DONT_FAKE_MONOTONIC": "1", "LD_PRELOAD": libfaketime()}
    with (
        FlowerStack(tmp_path / "stack") as stack,
        SQLFlowStandIn() as sqlflow,
        dg.DagsterInstance.local_temp(str(tmp_path)) as instance,
    ):
        for name, value in demo_source_env(stack, sqlflow).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SOURCES__FLOWER__LOOKBACK_MINUTES", "1")
        monkeypatch.setenv(SLACK_WEBHOOK_URL, slack.url)
        monkeypatch.setenv(WEBHOOK_URL, hook.url)
        monkeypatch.setenv(UI_URL, UI)
        monkeypatch.setattr(notify, "RETRY_FIRST_S", 0.2)
        stack.start_worker(f"w-2h@{socket.gethostname()}", "two_hours_on", {**skew, "FAKETIME": "+2h"})
        stack.start_worker(f"w-4h@{socket.gethostname()}", "four_hours_on", {**skew, "FAKETIME": "+4h"})
        definitions = deployment("flower", "sqlflow")
        notifier = Notifier(instance)
        slack.start()  # Slack answers throughout; the webhook is down until the spike was sent

        def run(job: str) -> dg.ExecuteInProcessResult:
            result = definitions.resolve_job_def(job).execute_in_process(
                instance=instance, raise_on_error=False
            )
            assert result.success or job == "flower_capture"
            return result

        assert notifier.tick() == "Started: from now on, alerts and taskline's own failures are sent."
        run("sqlflow_load")
        send(stack, "eu", 20, "celery")
        baseline = alerts_check(run("flower_load"))
        assert (baseline.passed, baseline.description) == (True, "No task's failures spike.")
        assert notifier.tick() == "0 new messages; 0 sent, 0 waiting."

        send(stack, "apac", 6, "two_hours_on")
        send(stack, "eu", 2, "two_hours_on", first_batch=100)
        spike = alerts_check(run("flower_load"))
        assert (spike.passed, spike.severity) == (False, dg.AssetCheckSeverity.ERROR)
        assert spike.description == f"error: {OPENED}"
        [alert] = spike.metadata["alerts"].value
        assert {
            key: alert[key] for key in ("task_name", "alert_level", "window_runs", "window_failures")
        } == {
            "task_name": "etl.extract_orders",
            "alert_level": "error",
            "window_runs": 8,
            "window_failures": 6,
        }
        # the workers two and four hours ahead start their attempts outside the interval of their snapshots:
        # the coverage check warns, as its description says clock skew makes it, and that is news too
        assert notifier.tick() == "2 new messages; 2 sent, 2 waiting."  # the webhook is down
        assert kinds(slack) == ["alert_opened", "check_failed"]
        assert slack.bodies()[0]["text"] == (
            f"[error] {OPENED} <{UI}/assets/marts/task_failure_alerts?view=checks|Open in Dagster>"
        )
        assert slack.bodies()[1]["text"].startswith(
            "taskline's check `task_attempts_coverage` on marts/task_coverage_hourly failed (warn): 8 of 8 task "
            "attempts the workers counted since their previous snapshot are not in the warehouse"
        )

        hook.start()
        time.sleep(0.5)  # past the first retry's back-off
        assert notifier.tick() == "0 new messages; 2 sent, 0 waiting."
        assert kinds(hook) == ["alert_opened", "check_failed"]
        opened = hook.bodies()[0]
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
        assert notifier.tick() == "0 new messages; 0 sent, 0 waiting."  # nothing twice

        send(stack, "eu", 10, "four_hours_on", first_batch=200)
        recovered = alerts_check(run("flower_load"))
        assert (recovered.passed, recovered.description) == (True, "No task's failures spike.")
        assert notifier.tick() == "1 new messages; 2 sent, 0 waiting."  # coverage still warns: not again
        since = datetime.fromisoformat(opened["opened_at"]).isoformat(timespec="minutes")
        resolved = (
            f"Resolved (alerting since {since}): `etl.extract_orders` failed 0 of 10 runs in the last hour (0%) "
            "— usually 21% (6 of 28 over the previous 7 days)."
        )
        assert kinds(slack)[2:] == kinds(hook)[2:] == ["alert_resolved"]
        assert (
            slack.bodies()[2]["text"]
            == f"{resolved} <{UI}/assets/marts/task_failure_alerts?view=checks|Open in Dagster>"
        )
        assert hook.bodies()[2]["text"] == resolved
        assert hook.bodies()[2]["alert_id"] == opened["alert_id"]

        assert alerts_check(run("flower_load")).passed  # no new task: the alert stays resolved
        assert notifier.tick() == "1 new messages; 2 sent, 0 waiting."  # no attempt now: coverage passes
        assert kinds(slack)[3:] == kinds(hook)[3:] == ["check_passed"]

        stack.stop_flower()
        failed = run("flower_capture")
        assert not failed.success
        assert notifier.tick() == "1 new messages; 2 sent, 0 waiting."
        stack.start_flower()
        assert kinds(slack)[4:] == kinds(hook)[4:] == ["run_failed"]
        assert hook.bodies()[4]["run_id"] == failed.run_id
        assert hook.bodies()[4]["text"].startswith(
            f"taskline run of `flower_capture` failed (run {failed.run_id[:8]}): "
        )
        assert slack.bodies()[4]["text"].endswith(f"<{UI}/runs/{failed.run_id}|Open in Dagster>")

        history = [
            (event["event_id"], event["event"], event["alert_id"])
            for event in alerts_check(run("flower_load")).metadata["alert_events"].value
        ]
        assert history == [(1, "opened", opened["alert_id"]), (2, "resolved", opened["alert_id"])]

        # webhook URLs are credentials: nowhere but in the environment
        logged = [str(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]
        for secret in (SLACK_PATH, HOOK_PATH):
            assert secret not in notifier.cursor
            # the receivers' own request log (werkzeug) shows where they were posted to; taskline's shows nothing
            assert not [r for r in caplog.records if r.name != "werkzeug" and secret in r.getMessage()]
            assert not [entry for entry in logged if secret in entry]
