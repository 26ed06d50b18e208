"""End to end: a real Flower stack and the SQLFlow stand-in, the main job from the shell, exact marts; on a
DuckDB warehouse (the default) and on PostgreSQL, from the same stack."""

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import WorkloadSummary, run_workload
from orchestration.dashboards.export import slug
from orchestration.keys import DASHBOARDS_FALLBACK_PAGE
from orchestration.settings import DASHBOARDS_DIR_SETTING, DEMO_SHOP_SETTING
from tests.fixtures.demo_lineage import EXPECTED_TABLE_EDGES
from tests.fixtures.paths import ROOT
from tests.fixtures.postgres import PostgresWarehouse, new_warehouse

pytestmark = pytest.mark.end_to_end

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


@dataclass
class DuckDBWarehouse:
    path: Path

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.sql(sql).fetchall()


@dataclass
class MainJobRun:
    engine: str
    workload: WorkloadSummary
    warehouse: DuckDBWarehouse | PostgresWarehouse
    duckdb_file: Path  # DUCKDB_PATH
    dagster_home: Path
    dashboards: Path  # TASKLINE_DASHBOARDS_DIR
    output: str  # everything the main job printed
    secrets: tuple[str, ...]  # none may appear in the output or any Dagster event


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Iterator[tuple[WorkloadSummary, dict[str, str], tuple[str, ...]]]:
    """A private Flower stack with the demo workload done and the SQLFlow stand-in: the workload, the
    source settings and their secrets. Both warehouses load the same stack."""
    with FlowerStack(tmp_path_factory.mktemp("flower")) as flower, SQLFlowStandIn() as sqlflow:
        workload = run_workload(flower)
        env = demo_source_env(flower, sqlflow)
        yield workload, env, (flower.password, env["SOURCES__SQLFLOW__SECRET_KEY"])


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def main_job_run(request, sources, tmp_path_factory) -> MainJobRun:
    """The main job run exactly as the README shows it, into a new DuckDB file or a new PostgreSQL database
    chosen by the settings a user sets."""
    workload, source_env, secrets = sources
    workdir = tmp_path_factory.mktemp(f"e2e_{request.param}")
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir()
    duckdb_file = workdir / "warehouse.duckdb"
    # the demo shop's seed only if the demo's own settings ask for it, as `make demo` has them
    environment = {name: value for name, value in os.environ.items() if name != DEMO_SHOP_SETTING}
    dashboards = workdir / "dashboards"
    env = {
        **environment,
        **source_env,
        "DUCKDB_PATH": str(duckdb_file),
        "DAGSTER_HOME": str(dagster_home),
        DASHBOARDS_DIR_SETTING: str(dashboards),
    }
    env.pop("TASKLINE_WAREHOUSE", None)  # DuckDB by default
    warehouse = DuckDBWarehouse(duckdb_file)
    if request.param == "postgres":
        warehouse = new_warehouse(request.getfixturevalue("postgres_server"))
        env.update(TASKLINE_WAREHOUSE="postgres", DESTINATION__POSTGRES__CREDENTIALS=warehouse.url)
        secrets = (*secrets, warehouse.password, warehouse.server.password)
    completed = subprocess.run(MAIN_JOB, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    output = completed.stdout + completed.stderr
    return MainJobRun(
        request.param, workload, warehouse, duckdb_file, dagster_home, dashboards, output, secrets
    )


def test_every_task_lands_once_with_its_final_state(main_job_run):
    rows = main_job_run.warehouse.query("select task_id, state, retries from marts.fct_task_runs")
    assert len(rows) == len(main_job_run.workload.tasks) == 30
    assert {task_id: state for task_id, state, _ in rows} == main_job_run.workload.expected_state_by_id()
    assert main_job_run.warehouse.query(
        "select count(*) filter (where is_failure), count(*) filter (where retries > 0) from marts.fct_task_runs",
    ) == [(4, 3)]


def test_only_the_chosen_warehouse_is_written(main_job_run):
    """On PostgreSQL nothing lands in a DuckDB file by mistake (DUCKDB_PATH is set in both runs)."""
    assert main_job_run.duckdb_file.exists() == (main_job_run.engine == "duckdb")


def test_failure_signatures_name_the_parsed_exceptions(main_job_run):
    rows = main_job_run.warehouse.query(
        "select task_name, exception_type, failures, sample_message from marts.task_failure_signatures order by 1, 2",
    )
    assert rows == EXPECTED_SIGNATURES


def test_lineage_edges_from_jobs_and_files_resolve_to_real_tables(main_job_run):
    warehouse = main_job_run.warehouse
    edges = warehouse.query(
        "select distinct source_table, target_table from marts.lineage_table_edges order by 1, 2"
    )
    assert edges == EXPECTED_TABLE_EDGES
    origins = warehouse.query("select distinct origin_kind from marts.lineage_table_edges order by 1")
    assert origins == [("job",), ("sql_file",)]


def test_failure_impact_follows_the_lineage_downstream(main_job_run):
    rows = main_job_run.warehouse.query(
        "select task_name, impacted_table, depth, failures from marts.task_failure_impact order by 1, 3, 2",
    )
    assert [row[:3] for row in rows] == EXPECTED_IMPACT
    assert {row[3] for row in rows} == {1}


def test_materialisations_report_rows_per_table_and_no_secret(main_job_run):
    with dg.DagsterInstance.from_config(str(main_job_run.dagster_home)) as instance:
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
    for secret in main_job_run.secrets:
        assert secret not in events_text
        assert secret not in main_job_run.output


def test_the_main_job_builds_the_dashboards_from_the_marts_and_no_secret_or_argument_reaches_them(
    main_job_run,
):
    """The export holds what the marts say (on either engine), the site a page per task (prerendered: they are
    few) and the page that renders each table's in the browser, and no file of the site a password, a key or a
    task's arguments."""
    with duckdb.connect(str(main_job_run.dashboards / "taskline.duckdb"), read_only=True) as export:
        assert export.execute("select engine, has_data from export_info").fetchall() == [
            (main_job_run.engine, True)
        ]
        assert export.execute("select sum(runs_30d), sum(failures_30d) from tasks").fetchall() == [(30, 4)]
        tasks = [name for (name,) in export.execute("select task_name from tasks order by 1").fetchall()]
        table_slugs = dict(export.execute("select table_name, table_slug from tables").fetchall())
        columns = {
            name
            for (name,) in export.execute("select column_name from information_schema.columns").fetchall()
        }
    assert tasks == sorted({task.name for task in main_job_run.workload.tasks})
    assert not columns & {"args", "kwargs", "result"}
    site = main_job_run.dashboards / "site"
    assert (site / "index.html").exists()
    for name in tasks:
        assert (site / "tasks" / slug(name) / "index.html").exists(), name
    for table in {table for _, table, _ in EXPECTED_IMPACT}:
        assert table_slugs[table] == slug(table), table
    assert (site / DASHBOARDS_FALLBACK_PAGE).exists()
    # the data the site carries (its pages, query results and Parquet files; not Evidence's own code)
    texts = [
        path.read_bytes()
        for path in site.rglob("*")
        if path.is_file() and path.suffix in {".html", ".json", ".arrow", ".parquet"}
    ]
    for secret in (*main_job_run.secrets, *argument_strings(main_job_run.workload)):
        assert not any(secret.encode() in text for text in texts), secret


def argument_strings(workload: WorkloadSummary) -> set[str]:
    """The strings among the tasks' arguments (a day, a segment) that no exception message repeats, long enough
    to mean nothing else (`exec` is also part of a table's name)."""
    values: list = [value for task in workload.tasks for value in (*task.args, *task.kwargs.values())]
    strings = set()
    while values:
        value = values.pop()
        if isinstance(value, list | tuple):
            values += value
        elif isinstance(value, str):
            strings.add(value)
    messages = " ".join(task.expected_exception or "" for task in workload.tasks)
    return {value for value in strings if len(value) >= 6 and value not in messages}
