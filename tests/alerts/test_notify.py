"""The notifier's parts below the sensor: channel settings, delivery with back-off over real HTTP, sentences."""

import logging
import re
import time
from datetime import UTC, datetime

import pytest
from werkzeug import Response

import orchestration.alerts.notifier as notify
from demo.stack import free_port
from orchestration import settings
from orchestration.alerts.channels import NotifyError, configured_channels
from orchestration.alerts.check import EVENT_COLUMNS, alert_sentence, alerts_result, event_sentence, percent
from orchestration.keys import ALERTS_CHECK
from orchestration.serve.server import ServeError, serve

SECRET_PATH = "/services/T0/B0/very-secret-token"
END = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
ROW = {
    "cluster": "billing",
    "task_name": "etl.load_orders",
    "alert_level": "error",
    "window_start_at": datetime(2026, 12, 1, 11, 1, tzinfo=UTC),
    "window_end_at": END,
    "window_runs": 30,
    "window_failures": 12,
    "window_failure_rate": 0.4,
    "baseline_start_at": datetime(2026, 11, 24, 11, 1, tzinfo=UTC),
    "baseline_runs": 700,
    "baseline_failures": 14,
    "baseline_failure_rate": 0.02,
    "top_exception_type": "TimeoutError",
    "top_exception_message": "orders API timed out",
    "is_new_exception_type": False,
    "has_known_tables": True,
    "tables_at_risk": "staging.orders (written), marts.revenue (depth 1), reporting.daily_summary (depth 2)",
}


@pytest.mark.parametrize(
    "value",
    [
        "hooks.slack.com/services/x",
        "ftp://hooks.example/x",
        "https://",
        "http://host:port/x",
        "http://[::1",
        "https://hooks example.internal/services/x",
        "https://hooks.example/services/x y",
    ],
)
def test_a_malformed_webhook_url_is_one_sentence_naming_the_setting_not_the_value(value):
    with pytest.raises(NotifyError) as error:
        configured_channels({settings.WEBHOOK_URL: value})

    assert str(error.value) == (
        "TASKLINE_WEBHOOK_URL is not an http(s) URL: set it to the JSON webhook's address, as its service gives it."
    )
    assert value not in str(error.value)


def test_channels_are_those_set():
    assert configured_channels({}) == []
    both = configured_channels(
        {settings.SLACK_WEBHOOK_URL: "https://hooks.slack.com/x", settings.WEBHOOK_URL: "http://10.0.0.1/y"}
    )
    assert [channel.name for channel in both] == ["slack", "webhook"]


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        (
            settings.SLACK_WEBHOOK_URL,
            "hooks.slack.com/services/T0/B0/x",
            "TASKLINE_SLACK_WEBHOOK_URL is not an http",
        ),
        (
            settings.OWNER_SLACK_WEBHOOK_URLS,
            "payments=hooks.slack.com/services/T0/B0/x",
            "TASKLINE_OWNER_SLACK_WEBHOOK_URLS: the URL of owner `payments`",
        ),
    ],
)
def test_serve_stops_on_a_malformed_webhook_url_before_anything_starts(tmp_path, setting, value, said):
    env = {
        "SOURCES__FLOWER__USERNAME": "ops",
        "SOURCES__FLOWER__PASSWORD": "x",
        "DAGSTER_HOME": str(tmp_path / "home"),
    }

    with pytest.raises(ServeError, match=f"^{re.escape(said)}") as error:
        serve("127.0.0.1", free_port(), {**env, setting: value})
    assert "hooks.slack.com" not in str(error.value)
    assert not (tmp_path / "home").exists()


def message(number: int) -> dict:
    return {"kind": "run_failed", "text": f"message {number} <&>", "link": "http://ui/runs/x"}


def test_a_channel_answering_5xx_is_retried_with_back_off_in_order_and_each_message_goes_once(
    httpserver, monkeypatch, caplog
):
    answers = iter([503, 500, 200, 200])
    httpserver.expect_request(SECRET_PATH, method="POST").respond_with_handler(
        lambda request: Response("x", status=next(answers))
    )
    monkeypatch.setenv(settings.WEBHOOK_URL, httpserver.url_for(SECRET_PATH))
    monkeypatch.setenv(settings.SLACK_WEBHOOK_URL, httpserver.url_for(SECRET_PATH))
    [slack, webhook] = configured_channels(
        {settings.SLACK_WEBHOOK_URL: "http://x/", settings.WEBHOOK_URL: "http://x/"}
    )
    state = notify.NotifierState(
        outbox=[notify.Pending("webhook", message(1)), notify.Pending("webhook", message(2))]
    )
    log = logging.getLogger("test_notify")

    with caplog.at_level(logging.WARNING, logger="test_notify"):
        before = time.time()
        assert notify.deliver_due(state, [webhook], log) == 0
        first_retry = state.outbox[0].next_attempt_at - before
        assert [p.attempts for p in state.outbox] == [1, 0]  # the second waits behind the first
        assert notify.deliver_due(state, [webhook], log) == 0  # not due yet: nothing sent
        state.outbox[0].next_attempt_at = 0  # as if 30 s had passed
        before = time.time()
        assert notify.deliver_due(state, [webhook], log) == 0
        second_retry = state.outbox[0].next_attempt_at - before
        state.outbox[0].next_attempt_at = 0
        assert notify.deliver_due(state, [webhook], log) == 2

    assert state.outbox == []
    bodies = [request.get_json() for request, _ in httpserver.log]
    assert [body["text"] for body in bodies] == ["message 1 <&>"] * 3 + ["message 2 <&>"]
    assert bodies[-1] == {"source": "taskline", **message(2)}
    assert slack.payload(message(1)) == {"text": "message 1 &lt;&amp;&gt; <http://ui/runs/x|Open in Dagster>"}
    assert 29 < first_retry <= 31 and 59 < second_retry <= 61
    assert [r.getMessage() for r in caplog.records] == [
        "webhook (TASKLINE_WEBHOOK_URL) did not take a message (HTTP 503); try 1, next in 30 s",
        "webhook (TASKLINE_WEBHOOK_URL) did not take a message (HTTP 500); try 2, next in 60 s",
    ]


def test_a_channel_that_is_down_is_named_without_its_url(monkeypatch, caplog):
    monkeypatch.setenv(settings.WEBHOOK_URL, f"http://127.0.0.1:{free_port()}{SECRET_PATH}")
    [webhook] = configured_channels({settings.WEBHOOK_URL: "http://x/"})
    state = notify.NotifierState(outbox=[notify.Pending("webhook", message(1))])

    with caplog.at_level(logging.WARNING, logger="test_notify"):
        assert notify.deliver_due(state, [webhook], logging.getLogger("test_notify")) == 0

    assert [r.getMessage() for r in caplog.records] == [
        "webhook (TASKLINE_WEBHOOK_URL) did not take a message (ConnectionError); try 1, next in 30 s"
    ]
    assert state.outbox[0].attempts == 1
    assert [notify.retry_delay(attempt) for attempt in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_the_alert_sentence_says_figures_cause_and_tables_at_risk():
    assert alert_sentence(ROW) == (
        "`etl.load_orders` in cluster `billing` failed 12 of 30 runs in the last hour (40%) — usually 2% (14 of 700 over the previous "
        "7 days). Mostly `TimeoutError: orders API timed out`. At risk: `staging.orders` (written), "
        "`marts.revenue` (depth 1), `reporting.daily_summary` (depth 2)."
    )


def test_a_task_with_no_tables_known_says_where_to_add_it_and_a_new_exception_says_so():
    row = {**ROW, "has_known_tables": False, "tables_at_risk": None, "is_new_exception_type": True,
           "baseline_runs": 0, "baseline_failures": 0, "baseline_failure_rate": 0.0}  # fmt: skip
    assert alert_sentence(row) == (
        "`etl.load_orders` in cluster `billing` failed 12 of 30 runs in the last hour (40%) — no runs in the previous 7 days to "
        "compare with. Mostly `TimeoutError: orders API timed out` (new: not raised in the previous 7 days). "
        "At risk: no tables known for it: add it to dbt_project/seeds/task_table_map.csv."
    )


def test_a_resolved_alert_gives_the_figures_that_resolved_it_or_says_the_task_stopped():
    resolved = {**ROW, "event": "resolved", "event_at": END, "opened_at": datetime(2026, 12, 1, 9, 30, 12, tzinfo=UTC),
                "window_failures": 0, "window_failure_rate": 0.0}  # fmt: skip
    assert event_sentence(resolved) == (
        "Resolved (alerting since 2026-12-01T09:30+00:00): `etl.load_orders` in cluster `billing` failed 0 of 30 "
        "runs in the last hour (0%) — usually 2% (14 of 700 over the previous 7 days)."
    )
    gone = {**resolved, "window_start_at": None}
    assert event_sentence(gone) == (
        "Resolved: `etl.load_orders` in cluster `billing` (alerting since 2026-12-01T09:30+00:00) ran no more in "
        "the window."
    )


def test_the_message_of_an_alert_with_no_tables_known_says_what_the_check_says():
    # the event as the check reads it from the alert history (EVENT_COLUMNS) and hands it to the notifier
    unmapped = {**ROW, "has_known_tables": False, "tables_at_risk": None}
    event = {name: unmapped.get(name) for name in EVENT_COLUMNS} | {
        "event_id": 1, "alert_id": "billing/etl.load_orders@1796126430", "event": "opened",
        "opened_at": END, "event_at": END,
    }  # fmt: skip
    result = alerts_result([unmapped], [event])
    [handed_over] = result.metadata["alert_events"].value

    message = notify.alert_message(handed_over, ALERTS_CHECK, "http://ui")

    at_risk = " At risk: no tables known for it: add it to dbt_project/seeds/task_table_map.csv."
    assert result.description == "error: " + alert_sentence(unmapped)
    assert result.description.endswith(at_risk)
    assert message["text"] == "[error] " + alert_sentence(unmapped)
    assert message["text"].endswith(at_risk)
    assert (message["cluster"], message["task_name"]) == ("billing", "etl.load_orders")
    assert result.metadata["tasks_without_known_tables"].value == ["etl.load_orders (cluster billing)"]


def test_an_alert_recorded_before_the_history_kept_has_known_tables_reads_as_the_check_says():
    # the events of a warehouse migrated from before clusters: has_known_tables null (warehouse/migrations.py)
    unmapped = {**ROW, "has_known_tables": False, "tables_at_risk": None}
    event = {name: unmapped.get(name) for name in EVENT_COLUMNS} | {
        "event_id": 1, "alert_id": "etl.load_orders@1796126430", "event": "opened", "opened_at": END,
        "event_at": END, "has_known_tables": None,
    }  # fmt: skip
    result = alerts_result([unmapped], [event])
    [handed_over] = result.metadata["alert_events"].value

    assert result.description == "error: " + alert_sentence(unmapped)
    assert notify.alert_message(handed_over, ALERTS_CHECK, "http://ui")[
        "text"
    ] == "[error] " + alert_sentence(unmapped)
    assert alert_sentence(unmapped).endswith(
        " At risk: no tables known for it: add it to dbt_project/seeds/task_table_map.csv."
    )


def test_rates_read_as_people_say_them():
    assert [percent(rate) for rate in (0.0, 0.004, 0.02, 0.4, 1.0)] == ["0%", "0.4%", "2%", "40%", "100%"]
