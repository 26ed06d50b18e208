"""dbt build on a large synthetic warehouse: 1,000,000 Flower tasks and 10,000 SQLFlow lineage rows.

    python -m tests.bench.bench_dbt [--tasks 1000000] [--relationships 10000] [--keep DIR]

The raw tables are generated in DuckDB with range() in the shape dlt loads (contract column names and
types), then `dbt build` (models, seed and every test) runs on them. Prints the total time and the
slowest nodes from run_results.json. Target: <= 60 s on 2 cores.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import duckdb

from tests.test_dbt_marts import dbt_build

TASK_NAMES = [
    "etl.extract_orders",
    "etl.extract_customers",
    "etl.load_payments",
    "etl.enrich_orders",
    "etl.build_daily_revenue",
    "etl.refresh_customer_ltv",
    "etl.publish_dashboard",
] + [f"etl.job_{n:02d}" for n in range(13)]
EXCEPTIONS = [
    "ConnectionError('orders API timed out after 30s')",
    "ValueError(\"invalid currency 'XXX' in payment 42\")",
    "KeyError('customer_id')",
    "UpstreamTimeout('warehouse lock \"analytics.customer_ltv\" held (pid 4242)')",
    "celery.exceptions.TimeLimitExceeded(60.0,)",
]
# 30 days of activity ending at this epoch second
END_EPOCH = 1795132800

TASKS_SQL = """
create or replace table flower.tasks as
with generated as (
    select
        i,
        (hash(i) >> 1)::bigint as h,
        {end} - 30 * 86400 + (i * 2592000 // {n}) as received_epoch
    from range({n}) as r(i)
)
select
    'task-' || lpad(i::varchar, 8, '0') as uuid,
    (?)[1 + (h // 100) % {names}] as name,
    case when h % 100 < 90 then 'SUCCESS' when h % 100 < 97 then 'FAILURE' when h % 100 < 99 then 'STARTED'
         else 'REVOKED' end as state,
    to_timestamp(received_epoch) as received,
    cast(null as timestamptz) as sent,
    to_timestamp(received_epoch + (h % 7) / 10) as started,
    case when h % 100 < 90 then to_timestamp(received_epoch + 1 + h % 20) end as succeeded,
    case when h % 100 between 90 and 96 then to_timestamp(received_epoch + 2 + h % 40) end as failed,
    case when h % 13 = 0 then to_timestamp(received_epoch + 0.5) end as retried,
    case when h % 100 = 99 then to_timestamp(received_epoch + 3) end as revoked,
    cast(null as timestamptz) as rejected,
    to_timestamp(received_epoch + 2 + h % 40) as "timestamp",
    cast(null as timestamptz) as eta,
    cast(null as timestamptz) as expires,
    case when h % 100 < 90 then (h % 20 + 0.9)::double end as runtime,
    (case when h % 13 = 0 then 1 + h % 3 else 0 end)::bigint as retries,
    'w' || (h % 4) || '@node' || (h % 4) as worker,
    '(' || i || ',)' as args,
    '{{}}' as kwargs,
    case when h % 100 < 90 then '{{''rows'': ' || (h % 1000) || '}}' end as result,
    case when h % 100 between 90 and 96 or h % 13 = 0 then (?)[1 + (h // 7) % {exceptions}] end as exception,
    case when h % 100 between 90 and 96 then 'Traceback (most recent call last):\n  File "/app/tasks.py", line '
         || (h % 300) || ', in run\n    raise\n' end as traceback,
    cast(null as varchar) as exchange,
    'celery' as routing_key,
    i::bigint as clock,
    cast(null as varchar) as client,
    'task-' || lpad(i::varchar, 8, '0') as root_id,
    cast(null as varchar) as parent_id,
    '[]'::json as children,
    '1795132800.0' as _dlt_load_id,
    md5(i::varchar) as _dlt_id
from generated
"""

SNAPSHOTS_SQL = """
create or replace table flower.workers as
select
    to_timestamp({end} - 30 * 86400 + s * 300) as snapshot_at,
    'w' || w || '@node' || w as worker,
    (s + w) % 50 <> 0 as is_online,
    to_timestamp({end} - 30 * 86400 + s * 300 - 2) as heartbeat_at,
    (1000 + w)::bigint as pid,
    (s * 300)::bigint as uptime_s,
    'prefork' as pool_implementation,
    4::bigint as pool_max_concurrency,
    4::bigint as pool_processes,
    16::bigint as prefetch_count,
    (s * 35 + w)::bigint as processed_total,
    '{{}}'::json as processed_by_task,
    'celery' as queues,
    'etl.extract_orders,etl.load_payments' as registered_tasks,
    (s % 5)::bigint as active_tasks,
    (s % 3)::bigint as reserved_tasks,
    0::bigint as scheduled_tasks,
    s * 0.9 as cpu_user_s,
    s * 0.1 as cpu_system_s,
    (60000 + s % 1000)::bigint as max_rss_kb,
    'redis' as broker_transport
from range(30 * 288) as snapshots(s), range(4) as workers(w);

create or replace table flower.queues_length as
select to_timestamp({end} - 30 * 86400 + s * 300) as snapshot_at, q as queue, ((s * 7 + 3) % 40)::bigint as messages
from range(30 * 288) as snapshots(s), (values ('celery'), ('reports')) as queues(q);

create or replace table flower.task_types as
select unnest(?) as name, to_timestamp({end}) as last_seen_at;
"""

# Each origin (a job or a SQL file) writes one table of layer 1-9 from two tables of the layer below through
# an RS-1 select list: RS.c1-c4 <- S1.c1-c4, RS.c1-c2 <- S2.c1-c2, T.c1-c4 <- RS.c1-c4 (10 rows per origin).
LINEAGE_SQL = """
-- layer 0 starts with the demo tables, so task_failure_impact has something to reach
create or replace temp macro table_name(layer, idx) as
    case when layer = 0 and idx < 7
        then ['RAW.ORDERS', 'RAW.CUSTOMERS', 'RAW.PAYMENTS', 'STAGING.ORDERS_ENRICHED', 'ANALYTICS.DAILY_REVENUE',
              'ANALYTICS.CUSTOMER_LTV', 'REPORTING.EXEC_DASHBOARD'][idx + 1]
        else 'LAYER' || layer || '.T' || idx
    end;

create or replace temp table origins as
select
    k,
    case when k % 2 = 0 then 'job-' || k else 'sql/model_' || k || '.sql' end as origin,
    1 + k % 9 as layer,
    (k // 9) % 100 as idx
from range({origins}) as r(k);

create or replace temp table lineage_objects as
select k, origin, 'S1' as object_id, table_name(layer - 1, idx) as object_name, 'table' as object_type
from origins
union all
select k, origin, 'S2', table_name(layer - 1, (idx * 7 + 3) % 100), 'table' from origins
union all
select k, origin, 'RS', 'RS-1', 'select_list' from origins
union all
select k, origin, 'T', table_name(layer, idx), 'table' from origins;

create or replace temp table lineage_relationships as
select k, origin, 'r' || c as relationship_id, 'RS' as target_object_id, 'RS.' || c as target_column_id,
       'C' || c as target_column, 'S1' as source_object_id, 'S1.' || c as source_column_id, 'C' || c as source_column,
       0 as source_position
from origins, range(1, 5) as cols(c)
union all
select k, origin, 'r' || c, 'RS', 'RS.' || c, 'C' || c, 'S2', 'S2.' || c, 'C' || c, 1
from origins, range(1, 3) as cols(c)
union all
select k, origin, 't' || c, 'T', 'T.' || c, 'C' || c, 'RS', 'RS.' || c, 'C' || c, 0
from origins, range(1, 5) as cols(c);

create or replace table sqlflow.jobs as
select origin as job_id, 'job_' || k as job_name, 'success' as status, 'dbvpostgresql' as db_vendor,
       timestamp '2026-11-20 02:00:00' as create_time, timestamp '2026-11-20 02:00:00' as last_execute_time,
       timestamp '2026-11-20 02:00:00' as changed_at
from origins where k % 2 = 0;
"""

LINEAGE_PER_KIND_SQL = """
-- one export per origin: its header row and its part rows share the load id (staging keeps only those)
create or replace table sqlflow.{kind}_lineage as
select origin as {key}, '1795132800.0' as _dlt_load_id from origins where {filter};

create or replace table sqlflow.{kind}_lineage_objects as
select origin as {key}, '1795132800.0' as _dlt_load_id, object_id, object_name, object_name as qualified_name, object_type,
       cast(null as varchar) as sub_type, cast(null as varchar) as server_name,
       cast(null as varchar) as database_name, cast(null as varchar) as schema_name
from lineage_objects where {filter};

create or replace table sqlflow.{kind}_lineage_columns as
select origin as {key}, '1795132800.0' as _dlt_load_id, object_id, object_id || '.' || c as column_id, 'C' || c as column_name,
       cast(null as varchar) as column_source
from lineage_objects, range(1, 5) as cols(c) where {filter};

create or replace table sqlflow.{kind}_lineage_relationships as
select origin as {key}, '1795132800.0' as _dlt_load_id, relationship_id, 'fdd' as relationship_type, 'insert' as effect_type,
       cast(null as varchar) as process_id, target_object_id, cast(null as varchar) as target_object_name,
       target_column_id, target_column, source_position::bigint as source_position, source_object_id,
       cast(null as varchar) as source_object_name, source_column_id, source_column,
       cast(null as varchar) as source_clause_type
from lineage_relationships where {filter};
"""


def generate_warehouse(path: Path, tasks: int, relationships: int) -> None:
    origins = max(relationships // 10, 1)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "set TimeZone = 'UTC'; create schema if not exists flower; create schema if not exists sqlflow"
        )
        con.execute(
            TASKS_SQL.format(end=END_EPOCH, n=tasks, names=len(TASK_NAMES), exceptions=len(EXCEPTIONS)),
            [TASK_NAMES, EXCEPTIONS],
        )
        con.execute(SNAPSHOTS_SQL.format(end=END_EPOCH), [TASK_NAMES])
        con.execute(LINEAGE_SQL.format(origins=origins))
        for kind, key, origin_filter in (("job", "job_id", "k % 2 = 0"), ("query", "sql_file", "k % 2 = 1")):
            con.execute(LINEAGE_PER_KIND_SQL.format(kind=kind, key=key, filter=origin_filter))
        counts = con.execute(
            """select (select count(*) from flower.tasks),
                      (select count(*) from sqlflow.job_lineage_relationships)
                    + (select count(*) from sqlflow.query_lineage_relationships)"""
        ).fetchone()
    print(f"generated {counts[0]:,} tasks and {counts[1]:,} lineage relationship rows in {path}")


def timed_dbt_build(path: Path, workdir: Path) -> float:
    """The marts test's `dbt build`, on the synthetic warehouse, timed."""
    os.environ["DUCKDB_PATH"] = str(path)
    started = time.perf_counter()
    dbt_build(workdir)
    return time.perf_counter() - started


def print_report(path: Path, workdir: Path, seconds: float, top: int = 10) -> None:
    results = json.loads((workdir / "target" / "run_results.json").read_text())["results"]
    slowest = sorted(results, key=lambda result: result["execution_time"], reverse=True)[:top]
    print(f"\ndbt build: {seconds:.1f} s wall, {len(results)} nodes")
    print(f"slowest {top}:")
    for result in slowest:
        print(f"  {result['execution_time']:7.2f} s  {result['status']:<7} {result['unique_id']}")
    with duckdb.connect(str(path), read_only=True) as con:
        for table in (
            "fct_task_runs",
            "task_failure_daily",
            "lineage_column_edges",
            "lineage_table_edges",
            "lineage_impact",
            "task_failure_impact",
            "task_coverage_hourly",
        ):
            count = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            print(f"  marts.{table:<24} {count:>10,} rows")
            # a mart left empty would time nothing: the synthetic data must reach every one
            assert count > 0, f"marts.{table} is empty: the synthetic warehouse no longer matches the models"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--relationships", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="generate and keep the warehouse in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskline-bench-") as scratch:
        workdir = args.keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "warehouse.duckdb"
        path.unlink(missing_ok=True)
        started = time.perf_counter()
        generate_warehouse(path, args.tasks, args.relationships)
        print(f"generation: {time.perf_counter() - started:.1f} s")
        print_report(path, workdir, timed_dbt_build(path, workdir))


if __name__ == "__main__":
    main()
