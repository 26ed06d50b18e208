"""What the capture benchmarks share: a deployment's environment on its own warehouse and Dagster home, a
steady rate of tasks into a Flower, and waiting for the runs it started to end."""

import os
import sys
import time
from pathlib import Path

import dagster as dg

from demo.stack import FlowerStack
from demo.workload import NOOP_TASK
from orchestration.ingest.jobs import PRESSURE_SENSOR_INTERVAL_S
from orchestration.runs.under_way import IN_PROGRESS

BIN = Path(sys.executable).parent


def base_env(stack: FlowerStack, workdir: Path) -> dict[str, str]:
    """A Flower-only deployment on its own warehouse and Dagster home, with every other setting as shipped."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SOURCES__", "DESTINATION__", "TASKLINE_", "DAGSTER_", "DUCKDB_PATH"))
        or name == "TASKLINE_ALLOW_ROOT"  # a bench run as root (CI) says so as the tests do
    }
    (workdir / "dagster_home").mkdir(parents=True, exist_ok=True)
    return {
        **kept,
        **stack.source_env(),
        "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
        "DAGSTER_HOME": str(workdir / "dagster_home"),
        "TASKLINE_DOCS_DIR": str(workdir / "docs"),
    }


def send_at_rate(stack: FlowerStack, rate: int, seconds: int) -> list[str]:
    """`rate` noop tasks a second for `seconds`, in batches every tenth of a second, on one connection."""
    client, sent = stack.celery(), []
    batch, started = max(1, rate // 10), time.monotonic()
    with client.producer_or_acquire() as producer:
        for tick in range(seconds * 10):
            sent += [
                client.send_task(NOOP_TASK, args=(len(sent) + i,), producer=producer, ignore_result=True).id
                for i in range(batch)
            ]
            time.sleep(max(0.0, started + (tick + 1) / 10 - time.monotonic()))
    return sent


def wait_for_runs_to_finish(home: Path, timeout: float = 300) -> None:
    """Until no run is under way (a capture the sensor started as the traffic ended)."""
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        time.sleep(PRESSURE_SENSOR_INTERVAL_S * 2)
        while instance.get_runs_count(dg.RunsFilter(statuses=IN_PROGRESS)) and time.monotonic() < deadline:
            time.sleep(1)
