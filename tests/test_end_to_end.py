"""End to end: a real Flower stack and the SQLFlow stand-in, the main job from the shell, exact marts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo.dev import DEMO_SQL
from demo.sqlflow_standin import DEMO_USERS, SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import run_workload

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).with_name("dagster"))
MAIN_JOB = [DAGSTER, "asset", "materialize", "-m", "orchestration.definitions", "--select", "*"]

EXPECTED_SIGNATURES = [
    ("etl.enrich_orders", "KeyError", 1, "customer_id"),
    ("etl.extract_orders", "ConnectionError", 1, "orders API unreachable in region 'apac' (batch 4)"),
    ("etl.load_payments", "ValueError", 1, "invalid currency 'XXX' in payment 42"),
    (
        "etl.refresh_customer_ltv",
        "UpstreamTimeout",
        1,
        'warehouse lock "analytics.customer_ltv" held (pid 4242)',
    ),
]
EXPECTED_TABLE_EDGES = [
    ("analytics.customer_ltv", "reporting.exec_dashboard"),
    ("analytics.daily_revenue", "reporting.exec_dashboard"),
    ("raw.customers", "staging.orders_enriched"),
    ("raw.orders", "staging.orders_enriched"),
    ("raw.payments", "analytics.daily_revenue"),
    ("scratch.payment_recon_a", "scratch.payment_recon_b"),
    ("scratch.payment_recon_b", "scratch.payment_recon_a"),
    ("staging.orders_enriched", "analytics.customer_ltv"),
    ("staging.orders_enriched", "analytics.daily_revenue"),
]
EXPECTED_IMPACT = [
    ("etl.enrich_orders", "staging.orders_enriched", 0),
    ("etl.enrich_orders", "analytics.customer_ltv", 1),
    ("etl.enrich_orders", "analytics.daily_revenue", 1),
    ("etl.enrich_orders", "reporting.exec_dashboard", 2),
    ("etl.extract_orders", "raw.orders", 0),
    ("etl.extract_orders", "staging.orders_enriched", 1),
    ("etl.extract_orders", "analytics.customer_ltv", 2),
    ("etl.extract_orders", "analytics.daily_revenue", 2),
    ("etl.extract_orders", "reporting.exec_dashboard", 3),
    ("etl.load_payments", "raw.payments", 0),
    ("etl.load_payments", "analytics.daily_revenue", 1),
    ("etl.load_payments", "reporting.exec_dashboard", 2),
    ("etl.refresh_customer_ltv", "analytics.customer_ltv", 0),
    ("etl.refresh_customer_ltv", "reporting.exec_dashboard", 1),
]


@pytest.fixture(scope="module")
def main_job_run(tmp_path_factory):
    """A private stack with the demo workload, then the main job run exactly as the README shows it."""
    workdir = tmp_path_factory.mktemp("e2e")
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir()
    warehouse = workdir / "warehouse.duckdb"
    user_id, secret_key = next(iter(DEMO_USERS.items()))
    with FlowerStack(workdir / "flower") as flower, SQLFlowStandIn() as sqlflow:
        workload = run_workload(flower)
        env = {
            **os.environ,
            **flower.source_env(),
            "SOURCES__SQLFLOW__BASE_URL": sqlflow.base_url,
            "SOURCES__SQLFLOW__USER_ID": user_id,
            "SOURCES__SQLFLOW__SECRET_KEY": secret_key,
            "SOURCES__SQLFLOW__SQL_PATHS": json.dumps(DEMO_SQL),
            "DUCKDB_PATH": str(warehouse),
            "DAGSTER_HOME": str(dagster_home),
        }
        completed = subprocess.run(MAIN_JOB, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    secrets = (flower.password, secret_key)
    return workload, warehouse, dagster_home, completed.stdout + completed.stderr, secrets


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_every_task_lands_once_with_its_final_state(main_job_run):
    workload, warehouse, *_ = main_job_run
    rows = query(warehouse, "select task_id, state, retries from marts.fct_task_runs")
    assert len(rows) == len(workload.tasks) == 30
    assert {task_id: state for task_id, state, _ in rows} == workload.expected_state_by_id()
    assert query(
        warehouse,
        "select count(*) filter (where is_failure), count(*) filter (where retries > 0) from marts.fct_task_runs",
    ) == [(4, 3)]


def test_failure_signatures_name_the_parsed_exceptions(main_job_run):
    _, warehouse, *_ = main_job_run
    rows = query(
        warehouse,
        "select task_name, exception_type, failures, sample_message from marts.task_failure_signatures order by 1, 2",
    )
    assert rows == EXPECTED_SIGNATURES


def test_lineage_edges_from_jobs_and_files_resolve_to_real_tables(main_job_run):
    _, warehouse, *_ = main_job_run
    edges = query(
        warehouse, "select distinct source_table, target_table from marts.lineage_table_edges order by 1, 2"
    )
    assert edges == EXPECTED_TABLE_EDGES
    origins = query(warehouse, "select distinct origin_kind from marts.lineage_table_edges order by 1")
    assert origins == [("job",), ("sql_file",)]


def test_failure_impact_follows_the_lineage_downstream(main_job_run):
    _, warehouse, *_ = main_job_run
    rows = query(
        warehouse,
        "select task_name, impacted_table, depth, failures from marts.task_failure_impact order by 1, 3, 2",
    )
    assert [row[:3] for row in rows] == EXPECTED_IMPACT
    assert {row[3] for row in rows} == {1}


def test_materialisations_report_rows_per_table_and_no_secret(main_job_run):
    _, _, dagster_home, output, secrets = main_job_run
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        tasks = instance.get_latest_materialization_event(dg.AssetKey(["flower", "tasks"]))
        lineage = instance.get_latest_materialization_event(dg.AssetKey(["sqlflow", "job_lineage"]))
        mart = instance.get_latest_materialization_event(dg.AssetKey(["marts", "task_failure_impact"]))
        # every event of the run: materialisation metadata, logs, step output
        events_text = "".join(
            str(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)
        )
    assert tasks.asset_materialization.metadata["rows_loaded_per_table"].data == {"tasks": 30}
    per_table = lineage.asset_materialization.metadata["rows_loaded_per_table"].data
    assert set(per_table) == {
        "job_lineage",
        "job_lineage_objects",
        "job_lineage_columns",
        "job_lineage_relationships",
    }
    assert per_table["job_lineage"] == 3  # two successful jobs and the partial one; never the failed job
    assert mart is not None
    for secret in secrets:
        assert secret not in events_text
        assert secret not in output
