"""SQL files deleted (and one restored) between two loads: their lineage leaves the marts, and comes back.

The demo SQL files (no jobs) in a directory of their own, loaded through the real SQLFlow source from the
stand-in, with Flower's failing demo tasks (pytest-httpserver) for task_failure_impact; one fixture loads,
builds, deletes, restores and builds again, and the tests assert on its snapshots.
"""

import shutil
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from demo.sqlflow_standin import SQLFlowStandIn
from orchestration.warehouse.pipelines import make_pipeline
from sources.flower import flower_source
from sources.sqlflow import sqlflow_source
from tests.fixtures.dbt_cli import dbt_build
from tests.fixtures.marts_sources import point_sources_at, serve_flower
from tests.fixtures.paths import ROOT

pytestmark = pytest.mark.integration

DELETED_FILE = "exec_dashboard.sql"  # the only origin of every edge into reporting.exec_dashboard
RESTORED_FILE = "daily_revenue.sql"  # deleted with it, restored before the next dbt build


def lineage_snapshot(warehouse: Path, sql_dir: Path) -> dict[str, list[tuple]]:
    """What the marts and the raw tables say about the two files and the table DELETED_FILE writes."""
    deleted, restored = f"{sql_dir}/{DELETED_FILE}", f"{sql_dir}/{RESTORED_FILE}"
    queries = {
        "deleted_table_edges": f"""select source_table, target_table from marts.lineage_table_edges
                                   where origin = '{deleted}' order by all""",
        "deleted_column_edges": f"select count(*) from marts.lineage_column_edges where origin = '{deleted}'",
        "impact": """select table_name, depth from marts.lineage_impact
                     where downstream_table = 'reporting.exec_dashboard' order by all""",
        "failure_impact": """select task_name, depth from marts.task_failure_impact
                             where impacted_table = 'reporting.exec_dashboard' order by all""",
        "restored_table_edges": f"""select source_table, target_table from marts.lineage_table_edges
                                    where origin = '{restored}' order by all""",
        "origins": "select distinct origin from marts.lineage_table_edges order by all",
        "raw_summaries": """select sql_file, retired_at is not null, response_code, relationships
                            from sqlflow.query_lineage order by all""",
        "raw_relationships": f"""select count(*) from sqlflow.query_lineage_relationships
                                 where sql_file = '{deleted}'""",
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {name: con.sql(sql).fetchall() for name, sql in queries.items()}


@pytest.fixture(scope="module")
def retirement(tmp_path_factory) -> tuple[Path, dict[str, dict[str, list[tuple]]]]:
    """The demo SQL files (no jobs) in a directory of their own: loaded and built; then DELETED_FILE and
    RESTORED_FILE deleted and loaded, RESTORED_FILE put back and loaded, and built again. Returns the
    directory and the lineage snapshots: `before`, `between` (the two loads, raw tables only), `after`."""
    workdir = tmp_path_factory.mktemp("dbt_retirement")
    warehouse = workdir / "warehouse.duckdb"
    sql_dir = workdir / "sql"
    sql_dir.mkdir()
    for path in (ROOT / "demo" / "sql").glob("*.sql"):
        shutil.copy(path, sql_dir)
    restored_sql = (sql_dir / RESTORED_FILE).read_text()
    # the lineage marts and task_failure_impact with all they need, then only what the SQLFlow load changes
    first_build = ("--select", "+task_failure_impact", "--indirect-selection", "cautious")
    lineage_build = ("--select", "source:sqlflow+", "--indirect-selection", "cautious")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        HTTPServer() as flower,
        SQLFlowStandIn(jobs=[]) as sqlflow,
    ):
        monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        point_sources_at(monkeypatch, flower, sqlflow, [f"{sql_dir}/*.sql"])
        serve_flower(flower, celery_messages=0, online=True)
        make_pipeline("flower").run(flower_source())  # the failing tasks of task_failure_impact
        make_pipeline("sqlflow").run(sqlflow_source())
        dbt_build(workdir, *first_build)
        before = lineage_snapshot(warehouse, sql_dir)

        (sql_dir / DELETED_FILE).unlink()
        (sql_dir / RESTORED_FILE).unlink()
        make_pipeline("sqlflow").run(sqlflow_source())
        between = lineage_snapshot(warehouse, sql_dir)
        (sql_dir / RESTORED_FILE).write_text(restored_sql)
        make_pipeline("sqlflow").run(sqlflow_source())
        dbt_build(workdir, *lineage_build)
        after = lineage_snapshot(warehouse, sql_dir)
    return sql_dir, {"before": before, "between": between, "after": after}


def test_a_deleted_sql_file_leaves_the_lineage_marts_after_the_next_load(retirement):
    sql_dir, snapshots = retirement
    before, after = snapshots["before"], snapshots["after"]
    assert before["deleted_table_edges"] == [
        ("analytics.customer_ltv", "reporting.exec_dashboard"),
        ("analytics.daily_revenue", "reporting.exec_dashboard"),
    ]
    assert before["deleted_column_edges"] == [(6,)]
    assert before["impact"] == [
        ("analytics.customer_ltv", 1),
        ("analytics.daily_revenue", 1),
        ("raw.customers", 3),
        ("raw.orders", 3),
        ("raw.payments", 2),
        ("staging.orders_enriched", 2),
    ]
    assert before["failure_impact"] == [
        ("etl.build_daily_revenue", 1),
        ("etl.enrich_orders", 2),
        ("etl.extract_orders", 3),
        ("etl.load_payments", 2),
        ("etl.refresh_customer_ltv", 1),
    ]

    assert after["deleted_table_edges"] == [] and after["deleted_column_edges"] == [(0,)]
    assert after["impact"] == [] and after["failure_impact"] == []
    demo_files = sorted(f"{sql_dir}/{path.name}" for path in (ROOT / "demo" / "sql").glob("*.sql"))
    assert before["origins"] == [(origin,) for origin in demo_files]
    assert after["origins"] == [(origin,) for origin in demo_files if not origin.endswith(DELETED_FILE)]
    # the raw rows stay as history, flagged through the summary row
    assert after["raw_relationships"] == before["raw_relationships"] == [(12,)]


def test_a_restored_sql_file_is_back_in_the_marts_and_no_longer_retired(retirement):
    sql_dir, snapshots = retirement
    before, between, after = snapshots["before"], snapshots["between"], snapshots["after"]

    def summaries(retired: set[str]) -> list[tuple]:
        counts = {
            "customer_ltv.sql": 18,
            "daily_revenue.sql": 10,
            "exec_dashboard.sql": 12,
            "orders_enriched.sql": 14,
        }
        return [
            (f"{sql_dir}/{name}", name in retired, 203 if name == DELETED_FILE else 200, relationships)
            for name, relationships in counts.items()
        ]

    assert before["raw_summaries"] == summaries(retired=set())
    assert between["raw_summaries"] == summaries(retired={DELETED_FILE, RESTORED_FILE})
    assert after["raw_summaries"] == summaries(retired={DELETED_FILE})
    assert (
        after["restored_table_edges"]
        == before["restored_table_edges"]
        == [
            ("raw.payments", "analytics.daily_revenue"),
            ("staging.orders_enriched", "analytics.daily_revenue"),
        ]
    )
