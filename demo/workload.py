"""Deterministic workloads for the demo Flower stack, and cheap ways to wait until Flower has seen them.

`run_workload` sends a fixed mix of the shop's ETL tasks whose final states are known in advance
(`WorkloadSummary.expected_states()`), so tests can assert exactly what Flower and the warehouse hold.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import states

from demo.celery_app import ENRICH_MAX_RETRIES
from demo.stack import FlowerStack

# Flower's states for a task that has not finished yet (PENDING: only the task-sent event was seen).
IN_FLIGHT_STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY")
FLOWER_PAGE_SIZE = 1000
NOOP_TASK = "etl.noop"
POLL_INTERVAL_S = 0.2


class WorkloadTimeout(TimeoutError):
    """Tasks did not reach the expected state in time."""


@dataclass(frozen=True)
class PlannedTask:
    name: str
    args: tuple
    kwargs: dict
    expected_state: str
    expected_exception: str | None = None  # the repr Flower reports for a FAILURE
    expected_retries: int = 0


@dataclass(frozen=True)
class SentTask(PlannedTask):
    task_id: str = ""


@dataclass
class WorkloadSummary:
    tasks: list[SentTask] = field(default_factory=list)
    send_seconds: float = 0.0
    wait_seconds: float = 0.0

    @property
    def task_ids(self) -> list[str]:
        return [task.task_id for task in self.tasks]

    def expected_states(self) -> dict[str, dict[str, int]]:
        """{task name: {final state: count}}, e.g. {"etl.load_payments": {"SUCCESS": 5, "FAILURE": 1}}"""
        by_name: dict[str, Counter] = {}
        for task in self.tasks:
            by_name.setdefault(task.name, Counter())[task.expected_state] += 1
        return {name: dict(counts) for name, counts in by_name.items()}

    def expected_state_by_id(self) -> dict[str, str]:
        return {task.task_id: task.expected_state for task in self.tasks}

    def by_id(self) -> dict[str, SentTask]:
        return {task.task_id: task for task in self.tasks}

    def __str__(self) -> str:
        final = Counter(task.expected_state for task in self.tasks)
        outcome = ", ".join(f"{count} {state}" for state, count in sorted(final.items()))
        timing = f"sent in {self.send_seconds:.1f}s, all final {self.wait_seconds:.1f}s later"
        return f"{len(self.tasks)} tasks ({outcome}), {timing}"


# --- the mix -------------------------------------------------------------------------------------------
# Per round (scale=1 is one round): 30 tasks, 26 SUCCESS and 4 FAILURE (ConnectionError, ValueError,
# KeyError after 3 retries, UpstreamTimeout); two enrich_orders retry then succeed; one long task.
BATCHES_PER_ROUND = 6
FAILING_BATCH = 4  # the batch (1-based, within a round) whose extract and payments fail
# enrich_orders: attempts that miss their customers, by batch: two retry then succeed, one gives up.
ENRICH_FAILED_ATTEMPTS = {2: 1, 3: 2, FAILING_BATCH: ENRICH_MAX_RETRIES + 1}
LTV_SEGMENTS = ("retail", "wholesale", "enterprise")
DASHBOARD_AUDIENCES = ("exec", "finance")
LONG_TASK_SECONDS = 4.0


def _success(name: str, *args, retries: int = 0, **kwargs) -> PlannedTask:
    return PlannedTask(name, args, kwargs, states.SUCCESS, expected_retries=retries)


def _failure(name: str, exception: str, *args, retries: int = 0, **kwargs) -> PlannedTask:
    return PlannedTask(name, args, kwargs, states.FAILURE, exception, expected_retries=retries)


def _extract_orders(batch: int, failing: bool) -> PlannedTask:
    if failing:
        error = f"ConnectionError(\"orders API unreachable in region 'apac' (batch {batch})\")"
        return _failure("etl.extract_orders", error, batch, region="apac")
    return _success("etl.extract_orders", batch, region="eu")


def _load_payments(batch: int, failing: bool) -> PlannedTask:
    if failing:
        error = f"ValueError(\"invalid currency 'XXX' in payment {batch * 10 + 2}\")"
        return _failure("etl.load_payments", error, batch, ["EUR", "USD", "XXX"])
    return _success("etl.load_payments", batch, ["EUR", "USD", "GBP"])


def _enrich_orders(batch: int, failed_attempts: int) -> PlannedTask:
    if failed_attempts > ENRICH_MAX_RETRIES:
        return _failure(
            "etl.enrich_orders",
            "KeyError('customer_id')",
            batch,
            retries=ENRICH_MAX_RETRIES,
            fail_until_attempt=failed_attempts,
        )
    return _success("etl.enrich_orders", batch, retries=failed_attempts, fail_until_attempt=failed_attempts)


def _refresh_customer_ltv(segment: str) -> PlannedTask:
    if segment == "enterprise":
        error = "UpstreamTimeout('warehouse lock \"analytics.customer_ltv\" held (pid 4242)')"
        return _failure("etl.refresh_customer_ltv", error, segment)
    return _success("etl.refresh_customer_ltv", segment)


def plan_round(round_index: int) -> list[PlannedTask]:
    """One round of the shop's nightly ETL; rounds differ only in batch numbers and days."""
    first_batch = round_index * BATCHES_PER_ROUND
    day = f"2024-03-{round_index % 28 + 1:02d}"
    # The long task first, so it runs alongside the rest instead of after it.
    plan = [_success("etl.build_daily_revenue", day, seconds=LONG_TASK_SECONDS)]
    for offset in range(1, BATCHES_PER_ROUND + 1):
        batch = first_batch + offset
        failing = offset == FAILING_BATCH
        plan += [
            _extract_orders(batch, failing),
            _success("etl.extract_customers", batch),
            _load_payments(batch, failing),
            _enrich_orders(batch, ENRICH_FAILED_ATTEMPTS.get(offset, 0)),
        ]
    plan += [_refresh_customer_ltv(segment) for segment in LTV_SEGMENTS]
    plan += [_success("etl.publish_dashboard", day, audience=audience) for audience in DASHBOARD_AUDIENCES]
    return plan


# --- sending and waiting -------------------------------------------------------------------------------


def run_workload(
    stack: FlowerStack, *, scale: int = 1, wait: bool = True, timeout: float = 120
) -> WorkloadSummary:
    """Send `scale` rounds of the mix; with `wait`, return once every task is final in Celery AND Flower."""
    started = time.monotonic()
    client = stack.celery()
    summary = WorkloadSummary()
    with client.producer_or_acquire() as producer:
        for planned in (task for round_index in range(scale) for task in plan_round(round_index)):
            sent = client.send_task(planned.name, args=planned.args, kwargs=planned.kwargs, producer=producer)
            summary.tasks.append(SentTask(**vars(planned), task_id=sent.id))
    summary.send_seconds = time.monotonic() - started
    if wait:
        deadline = time.monotonic() + timeout
        wait_until_results_final(stack, summary.task_ids, timeout=timeout)
        # The worker stores the result before it emits the event Flower reads: wait for Flower too.
        remaining = max(deadline - time.monotonic(), 1.0)
        wait_until_flower_shows_final(stack, summary.task_ids, timeout=remaining)
        summary.wait_seconds = time.monotonic() - started - summary.send_seconds
    return summary


def wait_until_results_final(stack: FlowerStack, task_ids: list[str], *, timeout: float = 120) -> None:
    """Poll the result backend until every task is SUCCESS, FAILURE or REVOKED."""
    client = stack.celery()
    pending = list(task_ids)

    def all_final() -> bool:
        pending[:] = [tid for tid in pending if client.AsyncResult(tid).state not in states.READY_STATES]
        return not pending

    _poll(all_final, timeout, lambda: f"{len(pending)} of {len(task_ids)} tasks still unfinished in Celery")


def send_noop_tasks(stack: FlowerStack, n: int) -> list[str]:
    """Send `n` etl.noop tasks over one producer connection (results ignored: no backend traffic)."""
    client = stack.celery()
    with client.producer_or_acquire() as producer:
        return [
            client.send_task(NOOP_TASK, args=(i,), producer=producer, ignore_result=True).id for i in range(n)
        ]


def wait_until_flower_has(
    stack: FlowerStack,
    n_tasks: int,
    *,
    state: str | None = None,
    taskname: str | None = None,
    timeout: float = 120,
) -> None:
    """Wait until Flower holds at least `n_tasks` tasks (optionally only those in `state` / named `taskname`).

    Cheap at any size: asks for the one task at offset n_tasks-1 instead of dumping them all.
    """
    filters = {key: value for key, value in {"state": state, "taskname": taskname}.items() if value}

    def holds_enough() -> bool:
        return bool(_flower_page(stack, limit=1, offset=n_tasks - 1, **filters))

    _poll(holds_enough, timeout, lambda: f"Flower holds fewer than {n_tasks} tasks (filters: {filters})")


def wait_until_flower_shows_final(stack: FlowerStack, task_ids: list[str], *, timeout: float = 120) -> None:
    """Wait until Flower holds each of `task_ids` in a final state (one small request per unfinished task)."""
    unfinished = list(task_ids)

    def is_final(task_id: str) -> bool:
        response = stack.api_get(f"/api/task/info/{task_id}")  # 404 until Flower has seen the task
        return response.status_code == 200 and response.json()["state"] in states.READY_STATES

    def all_final() -> bool:
        unfinished[:] = [task_id for task_id in unfinished if not is_final(task_id)]
        return not unfinished

    _poll(all_final, timeout, lambda: f"Flower shows {len(unfinished)} of {len(task_ids)} tasks unfinished")


def wait_until_idle(stack: FlowerStack, *, timeout: float = 120) -> None:
    """Wait until Flower shows no task in flight (PENDING, RECEIVED, STARTED or RETRY)."""

    def idle() -> bool:
        return not any(_flower_page(stack, limit=1, offset=0, state=state) for state in IN_FLIGHT_STATES)

    _poll(idle, timeout, lambda: "Flower still shows tasks in flight")


def start_lingering_task(stack: FlowerStack, *, seconds: float = 5.0, timeout: float = 30) -> str:
    """Send an etl.build_daily_revenue that stays STARTED for `seconds`; its id, once Flower shows it."""
    kwargs = {"seconds": seconds}
    task_id = stack.celery().send_task("etl.build_daily_revenue", args=("2024-03-31",), kwargs=kwargs).id
    wait_until_started(stack, task_id, timeout=timeout)
    return task_id


def wait_until_started(stack: FlowerStack, task_id: str, *, timeout: float = 30) -> None:
    def started() -> bool:
        response = stack.api_get(f"/api/task/info/{task_id}")
        return response.status_code == 200 and response.json()["state"] == states.STARTED

    _poll(started, timeout, lambda: f"Flower does not show task {task_id} as STARTED")


def flower_tasks(stack: FlowerStack, page_size: int = FLOWER_PAGE_SIZE) -> dict[str, dict]:
    """Every task Flower holds, read page by page (a full dump stalls Flower's single thread)."""
    tasks: dict[str, dict] = {}
    offset = 0
    while page := _flower_page(stack, limit=page_size, offset=offset):
        tasks.update(page)
        offset += page_size
    return tasks


def _flower_page(stack: FlowerStack, **params) -> dict[str, dict]:
    response = stack.api_get("/api/tasks", params=params)
    response.raise_for_status()
    return response.json()


def _poll(condition: Callable[[], bool], timeout: float, describe_failure: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise WorkloadTimeout(f"Timed out after {timeout:.0f}s: {describe_failure()}")
        time.sleep(POLL_INTERVAL_S)
