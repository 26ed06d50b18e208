"""Every source optional, every job green from its first run, in any order, on an empty warehouse.

A private Flower stack with the demo workload and the SQLFlow stand-in; the jobs run in process through the
real definitions of a deployment with Flower only, SQLFlow only, or both.
"""

import json
import logging
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo.dev import DEMO_SQL
from demo.sqlflow_standin import DEMO_USERS, SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import run_workload
from orchestration.ingest.configured import configured_sources
from tests.fixtures.demo_lineage import EXPECTED_TABLE_EDGES
from tests.fixtures.deployments import deployment
from tests.fixtures.paths import ROOT

pytestmark = pytest.mark.integration

LINEAGE_MARTS = ("lineage_table_edges", "lineage_column_edges", "lineage_impact")
# the demo's failing tasks and the tables the seed says they write: depth 0 of task_failure_impact
WRITTEN_BY_FAILURES = [
    ("etl.enrich_orders", "staging.orders_enriched", 0),
    ("etl.extract_orders", "raw.orders", 0),
    ("etl.load_payments", "raw.payments", 0),
    ("etl.refresh_customer_ltv", "analytics.customer_ltv", 0),
]


@pytest.fixture(scope="module")
def flower(tmp_path_factory):
    with FlowerStack(tmp_path_factory.mktemp("optional_sources")) as stack:
        yield stack, run_workload(stack)


@pytest.fixture
def sqlflow():
    with SQLFlowStandIn() as standin:
        yield standin


def use_flower(monkeypatch, stack: FlowerStack) -> None:
    for name, value in stack.source_env().items():
        monkeypatch.setenv(name, value)


def use_sqlflow(monkeypatch, standin: SQLFlowStandIn) -> None:
    user_id, secret_key = next(iter(DEMO_USERS.items()))
    monkeypatch.setenv("SOURCES__SQLFLOW__BASE_URL", standin.base_url)
    monkeypatch.setenv("SOURCES__SQLFLOW__USER_ID", user_id)
    monkeypatch.setenv("SOURCES__SQLFLOW__SECRET_KEY", secret_key)
    monkeypatch.setenv("SOURCES__SQLFLOW__SQL_PATHS", json.dumps(DEMO_SQL))


def run_job(definitions: dg.Definitions, job: str) -> dg.ExecuteInProcessResult:
    return definitions.resolve_job_def(job).execute_in_process(instance=dg.DagsterInstance.ephemeral())


def materialization(result: dg.ExecuteInProcessResult, *key: str) -> dict:
    [event] = [
        event.materialization.metadata
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key == dg.AssetKey(list(key))
    ]
    return event


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def count(warehouse: Path, mart: str) -> int:
    [(rows_in_mart,)] = rows(warehouse, f"select count(*) from marts.{mart}")
    return rows_in_mart


def test_flower_only_is_green_on_an_empty_warehouse_and_says_sqlflow_is_left_out(
    flower, monkeypatch, isolated_warehouse, caplog
):
    stack, workload = flower
    use_flower(monkeypatch, stack)
    with caplog.at_level(logging.WARNING, logger="taskline"):
        settings = configured_sources()
    assert [record.getMessage().split(" (")[0] for record in caplog.records] == ["SQLFlow is not configured"]
    assert not settings["sqlflow"].configured

    result = run_job(deployment("flower"), "flower_load")

    assert result.success
    assert count(isolated_warehouse, "fct_task_runs") == len(workload.tasks)
    # every materialisation carries what the UI shows: a table's row count, a model's columns with their types
    fct_task_runs = materialization(result, "marts", "fct_task_runs")
    assert fct_task_runs["dagster/row_count"].value == len(workload.tasks)
    columns = {column.name: column for column in fct_task_runs["dagster/column_schema"].schema.columns}
    assert columns["received_at"].type == "TIMESTAMP WITH TIME ZONE"
    assert columns["received_at"].description.startswith("When a worker received the task")
    staged = materialization(result, "staging", "stg_flower__tasks")
    assert "dagster/row_count" not in staged  # a view: counting it would run its query
    assert "task_id" in {column.name for column in staged["dagster/column_schema"].schema.columns}
    assert [count(isolated_warehouse, mart) for mart in LINEAGE_MARTS] == [0, 0, 0]  # built, empty
    assert (
        rows(
            isolated_warehouse,
            "select task_name, impacted_table, depth from marts.task_failure_impact order by 1",
        )
        == WRITTEN_BY_FAILURES
    )


def test_sqlflow_only_is_green_on_an_empty_warehouse(sqlflow, monkeypatch, isolated_warehouse):
    use_sqlflow(monkeypatch, sqlflow)
    monkeypatch.chdir(ROOT)

    result = run_job(deployment("sqlflow"), "sqlflow_load")

    assert result.success
    edges = rows(
        isolated_warehouse,
        "select distinct source_table, target_table from marts.lineage_table_edges order by 1, 2",
    )
    assert edges == EXPECTED_TABLE_EDGES
    assert count(isolated_warehouse, "fct_task_runs") == 0
    assert count(isolated_warehouse, "task_failure_impact") == 0


@pytest.mark.parametrize("first", ["flower_load", "sqlflow_load"])
def test_with_both_sources_either_job_first_is_green_and_the_other_completes_the_marts(
    first, flower, sqlflow, monkeypatch, isolated_warehouse
):
    stack, workload = flower
    use_flower(monkeypatch, stack)
    use_sqlflow(monkeypatch, sqlflow)
    both = deployment("flower", "sqlflow")

    assert run_job(both, first).success
    second = {"flower_load": "sqlflow_load", "sqlflow_load": "flower_load"}[first]
    assert run_job(both, second).success

    assert count(isolated_warehouse, "fct_task_runs") == len(workload.tasks)
    assert count(isolated_warehouse, "lineage_table_edges") > 0
    [(deepest,)] = rows(isolated_warehouse, "select max(depth) from marts.task_failure_impact")
    assert deepest == 3  # failures reach downstream through the lineage once both are loaded


def test_a_failing_sqlflow_does_not_hold_back_flower_marts_in_the_main_job(
    flower, sqlflow, monkeypatch, isolated_warehouse
):
    stack, workload = flower
    use_flower(monkeypatch, stack)
    use_sqlflow(monkeypatch, sqlflow)
    monkeypatch.setenv("SOURCES__SQLFLOW__SECRET_KEY", "not-the-secret")
    both = deployment("flower", "sqlflow")
    everything = both.resolve_implicit_global_asset_job_def()

    result = everything.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)

    assert not result.success  # the run is red: SQLFlow did not load
    failed = {event.step_key for event in result.all_events if event.is_step_failure}
    assert failed == {"sqlflow"}
    succeeded = {event.step_key for event in result.all_events if event.is_step_success}
    assert {"flower", "flower_models"} <= succeeded
    assert count(isolated_warehouse, "fct_task_runs") == len(workload.tasks)
