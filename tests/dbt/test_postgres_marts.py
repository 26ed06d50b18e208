"""The dbt project on PostgreSQL builds the same marts as on DuckDB, row for row, also incrementally.

The raw data is loaded once through the real dlt sources (Flower over real HTTP, the SQLFlow stand-in; see
tests/fixtures/marts_sources.py) into DuckDB, then copied table by table into a throw-away PostgreSQL through dlt
with dlt's own schema of those tables (same columns, same types, the same `_dlt_load_id`s: incremental
builds key on them). `dbt build` then runs on each engine, and every table of schema `marts` is compared.
A second Flower load with changed and new tasks follows, built incrementally on both and compared again.

Values are compared after this normalisation: timestamps with time zone in UTC, floats (and decimals)
rounded to 9 decimal places (sums and averages may add in another order); rows are compared as sorted lists.
"""

import copy
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import dlt
import duckdb
import psycopg2
import pytest
from pytest_httpserver import HTTPServer

from orchestration.warehouse.pipelines import make_pipeline
from sources.flower import flower_source
from tests.fixtures.dbt_cli import dbt, incremental_models
from tests.fixtures.demo_tasks import DAY2, HOUR, TASKS, task
from tests.fixtures.marts_sources import load_warehouse, recorded_body, serve_flower
from tests.fixtures.postgres import PostgresWarehouse, new_warehouse

pytestmark = pytest.mark.postgres

FLOAT_DIGITS = 9


def changed_flower(now: float) -> dict[str, dict]:
    """Flower at the second round: the task running at the first one failed after midnight (the load
    re-reads tasks in flight), and two tasks received a minute ago: a failure with a new exception type and
    one Flower knows no name of."""
    tasks = {
        **recorded_body("api_tasks_all_trimmed.json"),
        **{row["uuid"]: copy.deepcopy(row) for row in TASKS},
    }
    tasks["t11"].update(state="FAILURE", failed=DAY2 + 24 * HOUR + 60, timestamp=DAY2 + 24 * HOUR + 60,
                        exception="RuntimeError('dashboard render failed')")  # fmt: skip
    added = [
        task("t16", "etl.load_payments", "FAILURE", now - 60, started=now - 59, finished=now - 58,
             exception="LookupError('no rate for XXX')"),
        task("t17", None, "STARTED", now - 30, started=now - 29),
    ]  # fmt: skip
    tasks.update({row["uuid"]: row for row in added})
    return tasks


def copy_raw_tables(duckdb_path: Path, postgres: PostgresWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table the dlt pipelines loaded into `duckdb_path`, as it is, into `postgres` through dlt."""
    for name in ("flower", "sqlflow"):
        monkeypatch.delenv("TASKLINE_WAREHOUSE", raising=False)
        schema = make_pipeline(name).default_schema
        with duckdb.connect(str(duckdb_path), read_only=True) as con:
            names = con.execute(
                "select table_name from duckdb_tables() where schema_name = ? and not starts_with(table_name, '_dlt')",
                [name],
            ).fetchall()
            tables = {
                table: con.sql(f'select * from {name}."{table}"').to_arrow_table() for (table,) in names
            }
        monkeypatch.setenv("TASKLINE_WAREHOUSE", "postgres")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.url)
        # the rows keep the load ids they have (.dlt/config.toml has dlt stamp arrow rows with its own)
        monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "false")
        resources = [
            dlt.resource(
                rows,
                name=table,
                write_disposition="replace",
                columns=schema.get_table_columns(table),
            )
            for table, rows in tables.items()
        ]
        make_pipeline(name).run(resources)
        for setting in ("TASKLINE_WAREHOUSE", "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID"):
            monkeypatch.delenv(setting)


def normalised(value):
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, float | Decimal):
        return round(float(value), FLOAT_DIGITS)
    return value


def sort_key(row: tuple) -> list:
    return [(value is None, str(value)) for value in row]


def duckdb_marts(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table of schema marts: its column names and its rows, normalised and sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [row[0] for row in con.sql(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1").fetchall()]  # fmt: skip
        marts = {}
        for table in names:
            result = con.sql(f"select * from marts.{table}")
            rows = [tuple(normalised(value) for value in row) for row in result.fetchall()]
            marts[table] = (result.columns, sorted(rows, key=sort_key))
    return marts


def postgres_marts(postgres: PostgresWarehouse) -> dict[str, tuple[list[str], list[tuple]]]:
    connection = psycopg2.connect(postgres.url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            )
            marts = {}
            for (table,) in cursor.fetchall():
                cursor.execute(f"select * from marts.{table}")
                rows = [tuple(normalised(value) for value in row) for row in cursor.fetchall()]
                marts[table] = ([column.name for column in cursor.description], sorted(rows, key=sort_key))
    finally:
        connection.close()
    return marts


def incremental_table_ids(postgres: PostgresWarehouse) -> dict[str, int]:
    """The oid of each incremental model's table: a table rebuilt in full gets a new one."""
    return dict(
        postgres.query(
            f"""select relname, oid::bigint from pg_class
                where relkind = 'r' and relname in ({", ".join(f"'{name}'" for name in incremental_models())})"""
        )
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory, postgres_server) -> dict:
    """Both warehouses built from the same raw data, then again after a second Flower load."""
    workdir = tmp_path_factory.mktemp("postgres_marts")
    warehouse = workdir / "warehouse.duckdb"
    postgres = new_warehouse(postgres_server)
    result = {"postgres": postgres}
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(workdir)  # SQL_PATHS `demo/sql/*.sql` starts at the project, not here
        monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        monkeypatch.delenv("TASKLINE_WAREHOUSE", raising=False)

        def build_both(round_name: str) -> None:
            copy_raw_tables(warehouse, postgres, monkeypatch)
            dbt("build", workdir / "duckdb")
            with monkeypatch.context() as on_postgres:
                on_postgres.setenv("TASKLINE_WAREHOUSE", "postgres")
                on_postgres.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.url)
                dbt("build", workdir / "postgres")
            result[round_name] = (duckdb_marts(warehouse), postgres_marts(postgres))

        load_warehouse(monkeypatch)
        build_both("first")
        result["table_ids"] = incremental_table_ids(postgres)
        with HTTPServer() as flower:
            monkeypatch.setenv("SOURCES__FLOWER__BASE_URL", flower.url_for("/").rstrip("/"))
            serve_flower(flower, celery_messages=2, online=True, tasks=changed_flower(time.time()))
            make_pipeline("flower").run(flower_source())
        build_both("second")
        result["table_ids_after"] = incremental_table_ids(postgres)
    return result


def differences(columns: list[str], only_duckdb: list[tuple], only_postgres: list[tuple]) -> str:
    """The columns in which rows of the same first value differ: {column: (DuckDB's, PostgreSQL's)}."""
    by_first = {row[0]: row for row in only_postgres}
    described = [
        {
            name: (ours, theirs)
            for name, ours, theirs in zip(columns, row, by_first[row[0]], strict=True)
            if ours != theirs
        }
        if row[0] in by_first
        else row
        for row in only_duckdb
    ]
    return f"{described[:5]}; only on PostgreSQL: {[row for row in only_postgres if row[0] not in {other[0] for other in only_duckdb}][:5]}"


@pytest.mark.parametrize("round_name", ["first", "second"])
def test_every_mart_has_the_same_rows_on_postgres_as_on_duckdb(built, round_name):
    on_duckdb, on_postgres = built[round_name]
    assert sorted(on_postgres) == sorted(on_duckdb)
    assert len(on_duckdb) == 21  # 20 marts and the custom-state warning's rows (tasks_in_custom_states)
    for table, (columns, rows) in on_duckdb.items():
        assert on_postgres[table][0] == columns, table
        only_duckdb = [row for row in rows if row not in on_postgres[table][1]]
        only_postgres = [row for row in on_postgres[table][1] if row not in rows]
        assert (only_duckdb, only_postgres) == ([], []), f"marts.{table}: " + differences(
            columns, only_duckdb, only_postgres
        )
        assert on_postgres[table][1] == rows, f"marts.{table}: the same rows, not as often"
    for table in ("fct_task_runs", "task_failure_daily", "task_failure_signatures", "lineage_impact",
                  "task_failure_impact", "task_coverage_hourly", "dim_workers", "task_failure_alerts",
                  "worker_availability", "queue_growth", "operations_alerts"):  # fmt: skip
        assert on_duckdb[table][1], f"marts.{table} is empty: the comparison would prove nothing"


def test_the_second_round_changed_the_task_marts(built):
    first, second = built["first"][1], built["second"][1]
    assert len(second["fct_task_runs"][1]) == len(first["fct_task_runs"][1]) + 2
    signatures = [row[:3] for row in second["task_failure_signatures"][1]]
    assert ("default", "etl.load_payments", "LookupError") in signatures
    assert ("default", "etl.publish_dashboard", "RuntimeError") in signatures


def test_postgres_merged_the_second_round_into_the_same_tables(built):
    """Incremental on PostgreSQL too: a rebuild in full would have made new tables (new oids)."""
    assert set(built["table_ids"]) == set(incremental_models())
    assert built["table_ids_after"] == built["table_ids"]


def test_postgres_keeps_the_build_state_with_each_incremental_table(built):
    states = built["postgres"].query(
        f"""select relname, obj_description(oid, 'pg_class') from pg_class
            where relkind = 'r' and relname in ({", ".join(f"'{name}'" for name in incremental_models())})"""
    )
    assert sorted(name for name, _ in states) == sorted(incremental_models())
    assert all(comment.startswith('{"fingerprint": ') for _, comment in states)
