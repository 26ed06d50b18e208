"""Task coverage on a real stack whose Flower keeps only 20 tasks: the loss Flower cannot show, measured.

A private stack (Redis + Celery worker + Flower started with --max_tasks=20) and the scheduled `flower_load` job
run in process, limited to the Flower load, the worker and coverage models and the `task_attempts_coverage`
check (the task-failure marts are not needed here). Each phase sends tasks, waits until Flower has processed
every event of them, then runs the job once and keeps what the warehouse and the check say:

- baseline: no task yet; the worker's first snapshot has nothing to compare with;
- no loss: 5 tasks and one that retries twice (8 attempts), all in Flower;
- eviction: 30 tasks, of which Flower keeps 20: 10 attempts lost;
- restart: 3 tasks, a worker restart, 4 tasks: the new counter counts the 4 again from 0.
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo.stack import FlowerStack, wait_for
from demo.workload import wait_until_results_final
from orchestration.ingest.flower_checks import task_attempts_coverage
from tests.fixtures.deployments import deployment

pytestmark = pytest.mark.integration

MAX_TASKS = 20
QUICK_TASK = "etl.extract_customers"
RETRYING_TASK = "etl.enrich_orders"
FINISHED_EVENTS = ('type="task-succeeded"', 'type="task-failed"')
EVENT_TIMEOUT_S = 60
COVERAGE_CHECK = task_attempts_coverage.check_key
WORKER_MARTS = [COVERAGE_CHECK.asset_key, dg.AssetKey(["marts", "worker_health_hourly"])]
defs = deployment("flower")
COVERAGE_ASSETS = (
    dg.AssetSelection.groups("ingest")
    | dg.AssetSelection.assets(*WORKER_MARTS).upstream()
    | dg.AssetSelection.assets(dg.AssetKey(["marts", "dim_workers"]))  # their relationships tests read it
).resolve(defs.resolve_asset_graph())


@dataclass(frozen=True)
class Phase:
    check: dg.AssetCheckEvaluation
    latest_intervals: list[tuple]  # (is_restart, processed, loaded, lost) of the interval the check reads


def run_tasks(stack: FlowerStack, count: int, name: str = QUICK_TASK, **kwargs) -> None:
    """Send `count` tasks; return once each is final in Celery and Flower processed its final event."""
    finished_before = finished_events_in_flower(stack)
    client = stack.celery()
    task_ids = [client.send_task(name, args=(index,), kwargs=kwargs).id for index in range(count)]
    wait_until_results_final(stack, task_ids, timeout=EVENT_TIMEOUT_S)
    expected = finished_before + count
    wait_for(
        lambda: finished_events_in_flower(stack) == expected,
        EVENT_TIMEOUT_S,
        f"Flower to process {expected} task-succeeded/task-failed events",
        stack.logs(),
    )


def finished_events_in_flower(stack: FlowerStack) -> int:
    """Task-succeeded and task-failed events Flower has processed (its Prometheus counters)."""
    metrics = stack.api_get("/metrics").text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith("flower_events_total{") and any(event in line for event in FINISHED_EVENTS)
    )


def run_flower_load(warehouse: Path) -> Phase:
    """The scheduled job, in process: Flower load, dbt build downstream, the coverage check."""
    result = defs.resolve_job_def("flower_load").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=list(COVERAGE_ASSETS)
    )
    assert result.success
    (check,) = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == COVERAGE_CHECK]
    return Phase(
        check=check,
        latest_intervals=query(
            warehouse,
            """select is_restart, attempts_processed, attempts_loaded, attempts_lost
               from intermediate.int_worker_interval_coverage where ends_at_latest_snapshot""",
        ),
    )


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


@pytest.fixture(scope="module")
def coverage_run(tmp_path_factory) -> tuple[dict[str, Phase], Path, str]:
    workdir = tmp_path_factory.mktemp("coverage")
    warehouse = workdir / "warehouse.duckdb"
    phases: dict[str, Phase] = {}
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        FlowerStack(workdir / "flower", max_tasks=MAX_TASKS) as stack,
    ):
        monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        for name, value in stack.source_env().items():
            monkeypatch.setenv(name, value)
        phases["baseline"] = run_flower_load(warehouse)

        run_tasks(stack, 5)
        run_tasks(stack, 1, RETRYING_TASK, fail_until_attempt=2)
        phases["no loss"] = run_flower_load(warehouse)

        run_tasks(stack, 30)
        phases["eviction"] = run_flower_load(warehouse)

        run_tasks(stack, 3)
        stack.restart_worker()  # Flower keeps running
        run_tasks(stack, 4)
        phases["restart"] = run_flower_load(warehouse)
        worker = stack.worker_name
    return phases, warehouse, worker


def check_figures(evaluation: dg.AssetCheckEvaluation) -> dict:
    return {key: value.value for key, value in evaluation.metadata.items() if key != "interval_end"}


def test_a_first_load_has_nothing_to_compare_and_passes(coverage_run):
    phases, *_ = coverage_run
    baseline = phases["baseline"]
    assert baseline.latest_intervals == []
    assert baseline.check.passed
    assert check_figures(baseline.check) == {
        "workers": 0,
        "attempts_processed": 0,
        "attempts_loaded": 0,
        "attempts_lost": 0,
        "attempts_lost_per_worker": {},
    }


def test_every_attempt_in_flower_is_loaded_retries_included(coverage_run):
    phases, _, worker = coverage_run
    no_loss = phases["no loss"]
    assert no_loss.latest_intervals == [(False, 8, 8, 0)]  # 5 tasks + 1 task run 3 times
    assert no_loss.check.passed
    assert check_figures(no_loss.check) == {
        "workers": 1,
        "attempts_processed": 8,
        "attempts_loaded": 8,
        "attempts_lost": 0,
        "attempts_lost_per_worker": {worker: 0},
        "coverage": 1.0,
    }


def test_tasks_flower_evicted_before_the_load_are_counted_lost_and_the_check_warns(coverage_run):
    phases, _, worker = coverage_run
    eviction = phases["eviction"]
    assert eviction.latest_intervals == [(False, 30, MAX_TASKS, 10)]
    assert not eviction.check.passed
    assert eviction.check.severity == dg.AssetCheckSeverity.WARN
    assert check_figures(eviction.check) == {
        "workers": 1,
        "attempts_processed": 30,
        "attempts_loaded": 20,
        "attempts_lost": 10,
        "attempts_lost_per_worker": {worker: 10},
        "coverage": pytest.approx(20 / 30),
    }
    assert "10 of 30 task attempts" in eviction.check.description


def test_a_worker_restart_starts_the_count_again_without_artefacts(coverage_run):
    phases, warehouse, worker = coverage_run
    restart = phases["restart"]
    # the old process's 3 attempts after the previous snapshot are seen by no counter and left out
    assert restart.latest_intervals == [(True, 4, 4, 0)]
    assert restart.check.passed
    assert check_figures(restart.check)["attempts_lost_per_worker"] == {worker: 0}
    assert query(
        warehouse,
        """select is_restart, processed_in_interval from intermediate.int_worker_snapshot_intervals
           order by snapshot_at""",
    ) == [(False, 8), (False, 30), (True, 4)]


def test_marts_add_up_over_every_interval(coverage_run):
    _, warehouse, worker = coverage_run
    assert query(
        warehouse, "select worker, sum(processed_in_hour) from marts.worker_health_hourly group by all"
    ) == [(worker, 8 + 30 + 4)]
    assert query(
        warehouse,
        """select worker, sum(intervals), sum(restarts), sum(attempts_processed), sum(attempts_loaded),
                  sum(attempts_lost), sum(attempts_beyond_counter)
           from marts.task_coverage_hourly group by all""",
    ) == [(worker, 3, 1, 42, 8 + 20 + 4, 10, 0)]
    # every task Flower still held at a load is in the warehouse, the 3 before the restart included
    assert query(warehouse, "select count(*) from flower.tasks") == [(6 + 20 + 3 + 4,)]
