"""Copy raw tables of a DuckDB warehouse into PostgreSQL, for the benchmarks: the same rows and load ids, in
the column types dlt gives them there (double precision, jsonb, timestamp with time zone, ...), streamed as
CSV through COPY in Arrow batches."""

import io
from contextlib import closing
from pathlib import Path

import duckdb
import psycopg2
import pyarrow.csv

BATCH_ROWS = 200_000
# DuckDB type names PostgreSQL spells otherwise (the others, varchar, bigint, boolean, timestamp [with time
# zone], decimal(p, s), read the same in both)
POSTGRES_TYPES = {"DOUBLE": "double precision", "JSON": "jsonb", "FLOAT": "real"}


def raw_tables(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    return con.execute(
        "select schema_name, table_name from duckdb_tables() where schema_name in ? order by all",
        [list(schemas)],
    ).fetchall()


def postgres_columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    columns = con.execute(f"describe {table}").fetchall()
    return ", ".join(f'"{name}" {POSTGRES_TYPES.get(kind, kind)}' for name, kind, *_ in columns)


def copy_rows(rows: duckdb.DuckDBPyRelation, cursor, target: str) -> int:
    """Every row of a DuckDB query, appended to the PostgreSQL table `target`; how many."""
    options = pyarrow.csv.WriteOptions(
        include_header=False, quoting_style="all_valid"
    )  # null: unquoted empty
    copied = 0
    for batch in rows.to_arrow_reader(BATCH_ROWS):
        buffer = io.BytesIO()
        pyarrow.csv.write_csv(batch, buffer, options)
        buffer.seek(0)
        cursor.copy_expert(f"copy {target} from stdin with (format csv)", buffer)
        copied += batch.num_rows
    return copied


def copy_raw_tables(path: Path, url: str, schemas: tuple[str, ...] = ("flower", "sqlflow")) -> None:
    """Every table of `schemas` in the DuckDB file at `path`, replaced in the PostgreSQL database at `url`."""
    with duckdb.connect(str(path), read_only=True) as con, closing(psycopg2.connect(url)) as connection:
        con.execute("set TimeZone = 'UTC'")
        with connection.cursor() as cursor:
            for schema, table in raw_tables(con, schemas):
                name = f'{schema}."{table}"'
                cursor.execute(f"create schema if not exists {schema}; drop table if exists {name}")
                cursor.execute(f"create table {name} ({postgres_columns(con, name)})")
                copy_rows(con.sql(f"select * from {name}"), cursor, name)
            connection.commit()
            connection.autocommit = True
            cursor.execute("analyze")  # as autovacuum would soon after a load this size


def merge_rows(path: Path, url: str, table: str, key: str, where: str) -> int:
    """The rows of `table` matching `where` in DuckDB, merged into PostgreSQL's `table` the way dlt merges
    (delete by `key`, insert); how many."""
    with duckdb.connect(str(path), read_only=True) as con, closing(psycopg2.connect(url)) as connection:
        con.execute("set TimeZone = 'UTC'")
        with connection.cursor() as cursor:
            cursor.execute(f"create temp table changed (like {table})")
            copied = copy_rows(con.sql(f"select * from {table} where {where}"), cursor, "changed")
            cursor.execute(f"delete from {table} where {key} in (select {key} from changed)")
            cursor.execute(f"insert into {table} select * from changed")
        connection.commit()
    return copied
