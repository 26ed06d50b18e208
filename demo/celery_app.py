"""A small shop's ETL, as Celery tasks: the workload the demo Flower stack reports on.

Every task is deterministic: whether it fails, retries or succeeds depends only on its arguments, so the
workload (demo/workload.py) knows each task's final state in advance and tests can assert it exactly.
Task names are a contract (see the dbt seed `task_table_map.csv`): each one writes one warehouse table.
"""

import os
import time

from celery import Celery

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"

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


app = make_app(os.environ.get("TASKLINE_BROKER_URL", DEFAULT_BROKER_URL))


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


@app.task(name="etl.noop", ignore_result=True)
def noop(n: int = 0) -> None:
    """Does nothing: the benchmark sends tens of thousands of these to fill Flower."""
