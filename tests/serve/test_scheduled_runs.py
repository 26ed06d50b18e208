"""The daemon of `make serve` ticks one-minute capture and marts schedules on a fresh warehouse and a new
DAGSTER_HOME (its own module: it waits on the clock's minutes, while other modules run beside it)."""

import os
import time
from collections.abc import Iterator

import dagster as dg
import duckdb
import pytest

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import flower_tasks, run_workload
from tests.fixtures.final_states import assert_every_task_once_in_its_final_state
from tests.fixtures.served import FINISHED, NEVER, served

pytestmark = pytest.mark.end_to_end


@pytest.fixture(scope="module")
def flower_with_tasks(tmp_path_factory) -> Iterator[tuple[FlowerStack, SQLFlowStandIn]]:
    """A Flower holding the demo workload's tasks, and the SQLFlow stand-in."""
    with FlowerStack(tmp_path_factory.mktemp("flower")) as flower, SQLFlowStandIn() as sqlflow:
        run_workload(flower)
        yield flower, sqlflow


def test_the_first_runs_the_daemon_ticks_on_a_fresh_warehouse_are_green(tmp_path, flower_with_tasks):
    """One-minute capture and marts schedules on an empty warehouse and a new DAGSTER_HOME: the first capture
    succeeds, the marts schedule waits for it (a skipped tick, not a red run), then builds them green."""
    flower, sqlflow = flower_with_tasks
    env = {
        **os.environ,
        **demo_source_env(flower, sqlflow),
        "SOURCES__FLOWER__PAGE_SIZE": "20",
        "TASKLINE_SQLFLOW_SCHEDULE": NEVER,
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "TASKLINE_DOCS_DIR": str(tmp_path / "docs"),
        "TASKLINE_FLOWER_CAPTURE_SCHEDULE": "* * * * *",
        "TASKLINE_FLOWER_MARTS_SCHEDULE": "* * * * *",
    }
    with served(env, tmp_path / "serve.log"), dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        deadline = time.monotonic() + 480
        while True:
            first = {
                schedule: first_run_of(instance, schedule)
                for schedule in ("flower_capture_every_5_minutes", "flower_marts_every_15_minutes")
            }
            if all(run is not None and run.status.value in FINISHED for run in first.values()):
                break
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-4000:]
            time.sleep(2)

    capture, marts = first["flower_capture_every_5_minutes"], first["flower_marts_every_15_minutes"]
    assert (capture.job_name, capture.status.value) == ("flower_capture", "SUCCESS")
    assert (marts.job_name, marts.status.value) == ("flower_marts", "SUCCESS")
    assert_every_task_once_in_its_final_state(tmp_path / "warehouse.duckdb", flower)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        [(runs,)] = connection.execute("select count(*) from marts.fct_task_runs").fetchall()
    assert runs == len(flower_tasks(flower))


def first_run_of(instance: dg.DagsterInstance, schedule: str) -> dg.DagsterRun | None:
    ticked = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": schedule}))
    return ticked[-1] if ticked else None
