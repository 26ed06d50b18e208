"""The dashboards' export from the rows the warehouse gives (pure functions and the DuckDB file; the export from
a real warehouse is tested end to end, tests/demo/test_end_to_end.py, and behind the login,
tests/serve/test_http_management.py)."""

import re
from datetime import date
from decimal import Decimal

import duckdb
import pytest

from orchestration.dashboards.export import (
    EXPORTED,
    Health,
    columns_of,
    export_tables,
    reached_tables,
    slug,
    write_export,
)
from tests.fixtures.dashboard_exports import NOW, ODD_NAMES, warehouse_rows

ODD_AND_CASED = [*ODD_NAMES, "ETL.Load_Orders", "etl.load_orders"]


def test_every_name_gets_its_own_url_safe_slug():
    slugs = [slug(name) for name in ODD_AND_CASED]
    assert len(set(slugs)) == len(ODD_AND_CASED)
    assert all(re.fullmatch(r"[a-z0-9._-]{8,69}", one) for one in slugs), slugs
    assert slug("etl.load_orders") == "etl.load_orders-" + slugs[-1][-8:]
    assert re.fullmatch(r"[0-9a-f]{8}", slug("データ"))  # nothing readable: the hash alone


def test_a_task_reaches_the_tables_it_writes_and_what_lies_downstream_at_the_nearest():
    written = [("etl.a", "raw.orders"), ("etl.a", "staging.orders")]
    downstream = [
        ("raw.orders", "staging.orders", 1),
        ("raw.orders", "analytics.revenue", 2),
        ("staging.orders", "analytics.revenue", 1),
    ]
    reached = {
        (task, table): (depth, via) for task, _, table, _, depth, via in reached_tables(written, downstream)
    }
    assert reached == {
        ("etl.a", "raw.orders"): (0, "raw.orders"),
        ("etl.a", "staging.orders"): (0, "staging.orders"),
        ("etl.a", "analytics.revenue"): (1, "staging.orders"),
    }


def test_tasks_are_counted_over_7_and_30_days_and_tables_at_risk_follow_failing_writers():
    rows = warehouse_rows(
        runs_daily=[
            (date(2026, 12, 4), "billing", "etl.a", 10, 2, 0.2, 1.0, 2.0),
            (date(2026, 11, 20), "shop", "etl.a", 5, 5, 1.0, 1.0, 2.0),
            (date(2026, 11, 20), "shop", "etl.b", 4, 0, 0.0, 1.0, 2.0),
        ],
        written_tables=[("etl.a", "raw.orders"), ("etl.b", "raw.customers")],
        table_downstream=[("raw.orders", "analytics.revenue", 1)],
        open_alerts=[("failure_spike", "billing", "etl.a", None, "warn", "data", "`etl.a` failed …", NOW)],
    )
    tables = export_tables(rows, Health([], []), NOW, "duckdb")

    by_name = {row[0]: row for row in tables["tasks"]}
    assert by_name["etl.a"][2:] == ("billing, shop", 10, 2, 0.2, 15, 7, 7 / 15, None, None, "warn")
    assert by_name["etl.b"][3:6] == (0, 0, None)
    at_risk = {row[0]: (row[4], row[5], row[6]) for row in tables["tables"]}
    assert at_risk == {
        "raw.orders": (1, 1, True),
        "analytics.revenue": (1, 1, True),
        "raw.customers": (1, 0, False),
    }
    assert tables["open_alerts"][0][3] == slug("etl.a")
    assert tables["export_info"] == [(NOW, "duckdb", True)]


def test_the_export_file_holds_every_table_even_empty(tmp_path):
    path = tmp_path / "taskline.duckdb"
    write_export(export_tables(warehouse_rows(), Health([], []), NOW, "postgres"), path)

    with duckdb.connect(str(path), read_only=True) as connection:
        for table in EXPORTED:
            columns = connection.execute(
                "select column_name from information_schema.columns where table_name = ? order by ordinal_position",
                [table.name],
            ).fetchall()
            assert [name for (name,) in columns] == [name for name, _ in columns_of(table)], table.name
        assert connection.execute("select * from export_info").fetchall() == [(NOW, "postgres", False)]
    assert not path.with_suffix(".partial").exists()


@pytest.mark.parametrize("name", ODD_AND_CASED)
def test_an_odd_task_name_keeps_its_name_beside_its_slug(name):
    rows = warehouse_rows(runs_daily=[(NOW.date(), "c", name, 1, 1, 1.0, None, None)])
    [task] = export_tables(rows, Health([], []), NOW, "duckdb")["tasks"]
    assert task[:2] == (name, slug(name))


def test_postgresqls_numerics_are_written_as_numbers(tmp_path):
    """PostgreSQL gives a sum or an average as numeric (Decimal), `0E-20` included."""
    rows = warehouse_rows(
        queue_backlog=[(NOW, "shop", "celery", Decimal("0E-20"), Decimal("4"), Decimal("2"))],
        runs_hourly=[(NOW, "shop", "etl.a", 3, Decimal("1"))],
    )
    path = tmp_path / "taskline.duckdb"
    write_export(export_tables(rows, Health([], []), NOW, "postgres"), path)

    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("select avg_messages, max_messages from queue_backlog").fetchall() == [
            (0.0, 4)
        ]
        assert connection.execute("select runs, failures from runs_hourly").fetchall() == [(3, 1)]
