"""A small shop's ETL, as Celery tasks: the workload the demo Flower stack reports on.

Every task is deterministic: whether it fails, retries or succeeds depends only on its arguments, so the
workload (demo/workload.py) knows each task's final state in advance and tests can assert it exactly.
Task names are a contract (see the dbt seed `task_table_map.csv`): each one writes one warehouse table.
"""

import json
import os
import signal
import time

from celery import Celery
from celery.exceptions import Ignore, Reject, Retry

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
# Celery beat's entries, as JSON {task name: {"every": seconds, "args": [...]}}: what demo.stack's beat sends
BEAT_SCHEDULE_SETTING = "TASKLINE_DEMO_BEAT_SCHEDULE"

# Regions whose orders API is "down": extract_orders fails there with a ConnectionError.
OFFLINE_ORDER_REGIONS = frozenset({"apac"})
VALID_CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF"})
# Customer segments whose LTV table is "locked" by another job: refresh_customer_ltv times out there.
LOCKED_LTV_SEGMENTS = frozenset({"enterprise"})
ENRICH_MAX_RETRIES = 3


class UpstreamTimeout(Exception):
    """The warehouse did not answer in time (a custom exception class, as real ETL code has)."""


def make_app(broker_url: str) -> Celery:
    """A Celery app on `broker_url`, with the same Redis as result backend and task events switched on."""
    celery_app = Celery("taskline_demo", broker=broker_url, backend=broker_url)
    celery_app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # Flower builds its picture of tasks from events only: without these it sees nothing.
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
    )
    return celery_app


def beat_schedule(given: str) -> dict:
    entries = json.loads(given or "{}")
    return {
        name: {"task": name, "schedule": entry["every"], "args": entry.get("args", [])}
        for name, entry in entries.items()
    }


app = make_app(os.environ.get("TASKLINE_BROKER_URL", DEFAULT_BROKER_URL))
app.conf.beat_schedule = beat_schedule(os.environ.get(BEAT_SCHEDULE_SETTING, ""))


def _loaded(table: str, rows: int, **details) -> dict:
    return {"table": table, "rows": rows, **details}


@app.task(name="etl.extract_orders")
def extract_orders(batch: int, region: str = "eu") -> dict:
    if region in OFFLINE_ORDER_REGIONS:
        raise ConnectionError(f"orders API unreachable in region '{region}' (batch {batch})")
    return _loaded("raw.orders", rows=100 + batch, batch=batch, region=region)


@app.task(name="etl.extract_customers")
def extract_customers(batch: int) -> dict:
    return _loaded("raw.customers", rows=20 + batch, batch=batch)


@app.task(name="etl.load_payments")
def load_payments(batch: int, currencies: list[str]) -> dict:
    # Payment ids are batch * 10 + position, so batch 4's third payment is payment 42.
    for position, currency in enumerate(currencies):
        if currency not in VALID_CURRENCIES:
            raise ValueError(f"invalid currency '{currency}' in payment {batch * 10 + position}")
    return _loaded("raw.payments", rows=len(currencies), batch=batch)


@app.task(name="etl.enrich_orders", bind=True)
def enrich_orders(self, batch: int, fail_until_attempt: int = 0) -> dict:
    """Customers arrive late: attempts before `fail_until_attempt` miss them and retry (same task id)."""
    if self.request.retries < fail_until_attempt:
        # Once max_retries is used up, retry() raises the KeyError itself: the task ends in FAILURE.
        raise self.retry(exc=KeyError("customer_id"), countdown=0.2, max_retries=ENRICH_MAX_RETRIES)
    attempts = self.request.retries + 1
    return _loaded("staging.orders_enriched", rows=100 + batch, batch=batch, attempts=attempts)


@app.task(name="etl.build_daily_revenue")
def build_daily_revenue(day: str, seconds: float = 4.0) -> dict:
    time.sleep(seconds)  # the long-running aggregation of the demo
    return _loaded("analytics.daily_revenue", rows=1, day=day)


@app.task(name="etl.refresh_customer_ltv")
def refresh_customer_ltv(segment: str) -> dict:
    if segment in LOCKED_LTV_SEGMENTS:
        raise UpstreamTimeout('warehouse lock "analytics.customer_ltv" held (pid 4242)')
    return _loaded("analytics.customer_ltv", rows=10, segment=segment)


@app.task(name="etl.publish_dashboard")
def publish_dashboard(day: str, audience: str = "exec") -> dict:
    return _loaded("reporting.exec_dashboard", rows=1, day=day, audience=audience)


@app.task(name="etl.sync_exchange_rates")
def sync_exchange_rates() -> dict:
    """A periodic task (Celery beat's every 30 s in the tests): today's rates."""
    return _loaded("raw.exchange_rates", rows=len(VALID_CURRENCIES))


@app.task(name="etl.export_ledger")
def export_ledger(gate_path: str, timeout: float = 600.0) -> dict:
    """Waits for its gate (a file) to open, as a task hung on a lock or a slow API does."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(gate_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _loaded("reporting.ledger_export", rows=1)


@app.task(name="etl.noop", ignore_result=True)
def noop(n: int = 0) -> None:
    """Does nothing: the benchmark sends tens of thousands of these to fill Flower."""


# --- Celery's own failure modes, as a real worker reports them (tests/sources/flower/test_flower_edge_cases.py) -----------


@app.task(name="edge.hard_time_limit", time_limit=1)
def hard_time_limit(seconds: float = 5.0) -> None:
    """Killed by the pool at the hard limit: Flower names it ExceptionWithTraceback (celery/celery#7781)."""
    time.sleep(seconds)


@app.task(name="edge.soft_time_limit", soft_time_limit=1)
def soft_time_limit(seconds: float = 5.0) -> None:
    """Interrupted by SoftTimeLimitExceeded, raised inside the task and not caught."""
    time.sleep(seconds)


@app.task(name="edge.killed")
def killed() -> None:
    """The pool child dies of SIGKILL (what the OOM killer or `kill -9` does): WorkerLostError."""
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(name="edge.exits")
def exits(code: int = 3) -> None:
    """The pool child leaves without unwinding (a C extension's abort, `os._exit`): WorkerLostError."""
    os._exit(code)


@app.task(name="edge.rejected")
def rejected(reason: str = "malformed payload") -> None:
    raise Reject(reason, requeue=False)


@app.task(name="edge.progress", bind=True)
def progress(self, until_path: str, timeout: float = 120.0) -> dict:
    """Reports a custom state, as Celery's docs teach (Flower then shows PROGRESS), until `until_path` exists."""
    self.update_state(state="PROGRESS", meta={"done": 0})
    self.send_event("task-progress", done=0)
    deadline = time.monotonic() + timeout
    while not os.path.exists(until_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {"done": 1}


@app.task(name="edge.sleeps")
def sleeps(seconds: float = 30.0) -> None:
    """Runs until revoked with terminate=True (or for `seconds`)."""
    time.sleep(seconds)


@app.task(name="edge.ignored")
def ignored() -> None:
    raise Ignore()


@app.task(name="edge.retry_raised")
def retry_raised() -> None:
    """`raise Retry()` without task.retry(): marked RETRY, never sent again."""
    raise Retry()
