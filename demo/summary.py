"""A readable digest of the marts: what fails, why, and which tables it puts at risk."""

from pathlib import Path

import duckdb

TOP_TASKS = """
    select task_name, count(*) as runs, count(*) filter (where is_failure) as failures,
           count(*) filter (where retries > 0) as retried
    from marts.fct_task_runs group by task_name
    having count(*) filter (where is_failure) > 0
    order by failures desc, task_name limit 5
"""
SIGNATURES = """
    select task_name, exception_type, failures, sample_message
    from marts.task_failure_signatures order by failures desc, task_name, exception_type limit 8
"""
AT_RISK = """
    select task_name, string_agg(impacted_table, ', ' order by depth, impacted_table) as tables
    from marts.task_failure_impact group by task_name order by task_name
"""
RAW_TABLES = """
    select schema_name || '.' || table_name from duckdb_tables()
    where schema_name in ('flower', 'sqlflow') and not starts_with(table_name, '_dlt') order by 1
"""


def print_rows(title: str, rows: list[tuple], template: str) -> None:
    print(f"\n{title}")
    if not rows:
        print("  (none)")
    for row in rows:
        print("  " + template.format(*row))


def print_summary(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = [
            (table, *con.sql(f"select count(*) from {table}").fetchall()[0])
            for (table,) in con.sql(RAW_TABLES).fetchall()
        ]
        print_rows("Raw tables in the warehouse (rows):", counts, "{:<40} {:>8}")
        print_rows(
            "Top failing Celery tasks:",
            con.sql(TOP_TASKS).fetchall(),
            "{:<28} runs {:>4}  failures {:>4}  retried {:>4}",
        )
        print_rows(
            "Their exception signatures:",
            con.sql(SIGNATURES).fetchall(),
            "{:<28} {:<18} x{:<3} {!r:.60}",
        )
        print_rows(
            "Tables they put at risk (written, then downstream):", con.sql(AT_RISK).fetchall(), "{:<28} {}"
        )
