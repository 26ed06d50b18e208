"""dbt build on a large synthetic warehouse: full, then incremental after 10,000 changed tasks, then unchanged;
on DuckDB at 10,000,000 tasks, then on DuckDB and PostgreSQL side by side at 1,000,000.

    python -m tests.bench.bench_dbt [--tasks 10000000] [--postgres-tasks 1000000] [--changes 10000]
                                    [--relationships 10000] [--keep DIR]

The raw tables are generated in DuckDB with range() in the shape dlt loads them (contract column names and
types; a load id per 15 minutes of task activity), then three `dbt build`s run,
each in its own process:
  1. full: the first build of the whole history;
  2. incremental: after `--changes` tasks changed in four new loads, the way dlt merges them (new tasks
     over the last three days, in-flight tasks that finished - some after midnight -, failures retried
     into successes, failures whose exception type changed);
  3. no change: the same build again.
Each is the build the scheduled jobs run: models, seed and data tests (dbt unit tests are make test's).
Prints their wall time, peak RSS and slowest nodes side by side. Targets: the incremental build <= 10 s
and <= 1/10 of the full one. Then a build that selects no node: what starting dbt on this project costs
(imports, manifest, connection) before any work, the floor of every build.

`--postgres-tasks` runs the same three builds at that size on DuckDB and on a throw-away PostgreSQL server
(the tests' initdb/pg_ctl, tests/fixtures/postgres.py; fsync off, otherwise the server's defaults): the raw
tables are generated in DuckDB as above and copied into PostgreSQL in the types dlt gives them there, and the
changed tasks are merged into both. The dbt process's peak RSS leaves out PostgreSQL's own memory. Not
collected by pytest (the file name does not start with test_).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import duckdb

from orchestration.dbt.project import WITHOUT_UNIT_TESTS
from tests.bench.history import (
    DAY_S,
    END_EPOCH,
    EXCEPTIONS,
    HISTORY_LOAD_ID,
    LOAD_EVERY_S,
    LOAD_ID_FRACTION,
    TASK_NAMES,
    task_rows_sql,
)
from tests.bench.to_postgres import copy_raw_tables, merge_rows
from tests.fixtures.dbt_cli import dbt_command, dbt_env
from tests.fixtures.postgres import new_warehouse, running_server

# Changed tasks of the last three days: in-flight tasks that finished two hours later (those started after
# 22:00 move to the next day), failures retried into a success an hour later, failures that failed again
# half an hour later with the next exception type. Each in one of the new loads.
CHANGED_TASKS_SQL = """
select * exclude (h) replace (
    case when state = 'STARTED' then (case when h % 2 = 0 then 'SUCCESS' else 'FAILURE' end)
         when h % 2 = 0 then 'SUCCESS' else 'FAILURE' end as state,
    case when state = 'STARTED' and h % 2 = 0 then started + interval 2 hour
         when state = 'FAILURE' and h % 2 = 0 then failed + interval 1 hour end as succeeded,
    case when state = 'STARTED' and h % 2 = 1 then started + interval 2 hour
         when state = 'FAILURE' and h % 2 = 1 then failed + interval 30 minute end as failed,
    case when state = 'FAILURE' and h % 2 = 0 then failed else retried end as retried,
    case when state = 'STARTED' then started + interval 2 hour
         when h % 2 = 0 then failed + interval 1 hour else failed + interval 30 minute end as "timestamp",
    case when h % 2 = 0 then coalesce(runtime, 0.9) end as runtime,
    retries + case when state = 'FAILURE' then 1 else 0 end as retries,
    case when state = 'STARTED' and h % 2 = 0 then null
         when state = 'STARTED' or h % 2 = 1 then (?)[1 + (h // 7 + 1) % {exceptions}]
         else exception end as exception,
    ((?)[1 + h % {loads}]) as _dlt_load_id,
    md5(uuid || 'changed') as _dlt_id
)
from (
    select *, (hash(uuid) >> 1)::bigint as h from flower.tasks
    where state in ('STARTED', 'FAILURE') and received >= to_timestamp({end} - 3 * {day})
    order by uuid
    limit {changed}
)
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
        history = task_rows_sql("task-", tasks, END_EPOCH - 30 * DAY_S, 30 * DAY_S, HISTORY_LOAD_ID)
        con.execute(f"create or replace table flower.tasks as {history}", [TASK_NAMES, EXCEPTIONS])
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


def change_tasks(path: Path, changes: int, loads: int = 4) -> list[str]:
    """`changes` tasks new or changed in `loads` new loads, merged the way dlt merges (delete + insert by uuid):
    half new tasks received over the last three days, half changed ones (CHANGED_TASKS_SQL)."""
    # the history's last load is END_EPOCH + LOAD_EVERY_S
    load_ids = [f"{END_EPOCH + k * LOAD_EVERY_S}{LOAD_ID_FRACTION}" for k in range(2, loads + 2)]
    new = changes // 2
    in_new_loads = f"(?)[1 + h % {loads}]"
    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute(
            "create temp table changed as "
            + CHANGED_TASKS_SQL.format(
                exceptions=len(EXCEPTIONS), loads=loads, end=END_EPOCH, day=DAY_S, changed=changes - new
            ),
            [EXCEPTIONS, load_ids],
        )
        con.execute(
            "insert into changed by name "
            + task_rows_sql("late-", new, END_EPOCH - 3 * DAY_S, 3 * DAY_S, in_new_loads),
            [TASK_NAMES, EXCEPTIONS, load_ids],
        )
        con.execute("delete from flower.tasks where uuid in (select uuid from changed)")
        con.execute("insert into flower.tasks by name select * from changed")
        counts = con.execute(
            "select count(*), count(distinct _dlt_load_id) from flower.tasks where _dlt_load_id in ?",
            [load_ids],
        ).fetchone()
    print(f"changed {counts[0]:,} tasks in {counts[1]} new loads")
    return load_ids


@dataclass
class Build:
    """One `dbt build` in its own process."""

    name: str
    wall_s: float
    peak_rss_mb: float
    run_s: float  # dbt's own time for the nodes, start-up (imports, parsing) excluded
    node_s_by_family: dict[str, float]
    results: list[dict]


def family(unique_id: str, nodes: dict) -> str:
    """Which part of the project a node belongs to: its model's folder (a test counts for its model)."""
    if unique_id.startswith("unit_test."):
        return "unit tests"
    node = nodes[unique_id]
    model = nodes.get(node.get("attached_node") or "", node)
    folder = Path(model["original_file_path"]).parent.name
    return {"flower": "tasks" if "tasks" in model["name"] else "workers", "sqlflow": "lineage"}.get(
        folder, folder
    )


def warehouse_env(path: Path, postgres_url: str | None = None) -> dict[str, str]:
    """The environment of a dbt build on the DuckDB file at `path`, or on the PostgreSQL database at
    `postgres_url` (dlt's setting, which taskline hands dbt as it does in a run)."""
    if postgres_url is None:
        settings = {"TASKLINE_WAREHOUSE": "duckdb"}
    else:
        settings = {"TASKLINE_WAREHOUSE": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": postgres_url}
    with mock.patch.dict(os.environ, settings):
        return dbt_env(path)


# Runs a command and writes its peak RSS (KiB) to a file. A child forked from this process counts this
# process's memory (gigabytes after generating a warehouse) as its own until it execs; one forked from this
# small one does not.
PEAK_RSS_OF = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(code)"
)


# no node has this tag: the build starts dbt and does nothing
SELECTS_NO_NODE = ("--select", "tag:taskline-bench-selects-no-node")


def build(name: str, env: dict[str, str], workdir: Path, *selection: str) -> Build:
    log = workdir / f"dbt_{name.replace(' ', '_')}.log"
    peak_rss_kib = workdir / "peak_rss_kib"
    started = time.perf_counter()
    with log.open("w") as out:
        dbt_build = dbt_command("build", workdir, *WITHOUT_UNIT_TESTS, *selection)
        command = [sys.executable, "-c", PEAK_RSS_OF, str(peak_rss_kib), *dbt_build]
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    wall_s = time.perf_counter() - started
    assert code == 0, f"dbt build ({name}) failed: see {log}"
    run = json.loads((workdir / "target" / "run_results.json").read_text())
    nodes = json.loads((workdir / "target" / "manifest.json").read_text())["nodes"]
    by_family: dict[str, float] = {}
    for result in run["results"]:
        part = family(result["unique_id"], nodes)
        by_family[part] = by_family.get(part, 0.0) + result["execution_time"]
    peak_rss_mb = int(peak_rss_kib.read_text()) / 1024
    return Build(name, wall_s, peak_rss_mb, run["elapsed_time"], by_family, run["results"])


MARTS = (
    "fct_task_runs",
    "task_failure_daily",
    "task_failure_signatures",
    "lineage_column_edges",
    "lineage_table_edges",
    "lineage_impact",
    "task_failure_impact",
    "task_coverage_hourly",
)


ALERT_MODELS = ("int_task_outcomes_per_minute", "task_failure_alerts", "task_failure_alert_history")
# the operations rules read a bounded lookback (operations_lookback_days), never the whole history
OPERATIONS_MODELS = (
    "int_cluster_clocks", "periodic_tasks", "stuck_tasks", "worker_availability", "queue_growth",
    "operations_alerts", "operations_alert_history",
)  # fmt: skip


def print_report(title: str, builds: list[Build], query: Callable[[str], list[tuple]], top: int = 8) -> None:
    print(f"\n== {title}")
    families = sorted({part for done in builds for part in done.node_s_by_family})
    print(f"\n{'dbt build':<13}{'wall s':>8}{'start-up s':>12}{'nodes s':>9}{'peak RSS MB':>13}{'nodes':>7}")
    for done in builds:
        print(
            f"{done.name:<13}{done.wall_s:>8.1f}{done.wall_s - done.run_s:>12.1f}{done.run_s:>9.1f}"
            f"{done.peak_rss_mb:>13.0f}{len(done.results):>7}"
        )
    full, incremental, no_change, nothing = builds
    print(
        f"incremental / full: {incremental.wall_s / full.wall_s:.3f} "
        f"(targets: <= 10 s, <= 0.1): {'met' if incremental.wall_s <= min(10, full.wall_s / 10) else 'MISSED'}"
    )
    print(
        f"what the changes cost (incremental - no change): {incremental.wall_s - no_change.wall_s:.1f} s; "
        f"starting dbt (nothing selected): {nothing.wall_s:.1f} s = {nothing.wall_s / full.wall_s:.3f} of the full build"
    )
    print(
        "\nnode seconds by part of the project (two threads run them, so they add up to more than the wall)"
    )
    print(f"{'':<13}" + "".join(f"{part:>12}" for part in families))
    for done in (full, incremental, no_change):
        print(
            f"{done.name:<13}"
            + "".join(f"{done.node_s_by_family.get(part, 0.0):>12.1f}" for part in families)
        )
    for title, models in (
        ("the failure alerts' models", ALERT_MODELS),
        ("the operations alerts' models", OPERATIONS_MODELS),
    ):
        print(
            f"\n{title}, node seconds (their cost must follow the changes or the lookback, not the history)"
        )
        print(f"{'':<13}" + "".join(f"{model:>28}" for model in models))
        for done in (full, incremental, no_change):
            seconds = {
                result["unique_id"].split(".")[-1]: result["execution_time"] for result in done.results
            }
            print(f"{done.name:<13}" + "".join(f"{seconds.get(model, 0.0):>28.2f}" for model in models))
    for done in (full, incremental, no_change):
        print(f"\nslowest {top} nodes, {done.name}:")
        for result in sorted(done.results, key=lambda result: result["execution_time"], reverse=True)[:top]:
            print(f"  {result['execution_time']:7.2f} s  {result['status']:<7} {result['unique_id']}")
    print()
    for table in MARTS:
        count = query(f"select count(*) from marts.{table}")[0][0]
        print(f"  marts.{table:<24} {count:>10,} rows")
        # a mart left empty would time nothing: the synthetic data must reach every one
        assert count > 0, f"marts.{table} is empty: the synthetic warehouse no longer matches the models"


def print_side_by_side(runs: dict[str, list[Build]]) -> None:
    """Wall seconds (and the dbt process's peak RSS) of each build, one column per warehouse."""
    print("\n== side by side: wall s (dbt's peak RSS MB)")
    print(f"{'dbt build':<13}" + "".join(f"{title:>28}" for title in runs))
    for index, name in enumerate(done.name for done in next(iter(runs.values()))):
        cells = [f"{builds[index].wall_s:.1f} ({builds[index].peak_rss_mb:.0f})" for builds in runs.values()]
        print(f"{name:<13}" + "".join(f"{cell:>28}" for cell in cells))


def duckdb_query(path: Path) -> Callable[[str], list[tuple]]:
    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()

    return query


def bench_duckdb(workdir: Path, tasks: int, changes: int, relationships: int) -> list[Build]:
    """The three builds on a DuckDB warehouse of `tasks` tasks."""
    path = workdir / "warehouse.duckdb"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    generate_warehouse(path, tasks, relationships)
    print(f"generation: {time.perf_counter() - started:.1f} s", flush=True)
    env = warehouse_env(path)
    builds = [build("full", env, workdir)]
    change_tasks(path, changes)
    builds += [build("incremental", env, workdir), build("no change", env, workdir)]
    builds.append(build("nothing", env, workdir, *SELECTS_NO_NODE))
    print_report(f"DuckDB, {tasks:,} tasks", builds, duckdb_query(path))
    return builds


def bench_both_engines(workdir: Path, tasks: int, changes: int, relationships: int) -> dict[str, list[Build]]:
    """The same three builds on DuckDB and on a throw-away PostgreSQL server, from the same raw rows: generated
    in DuckDB, copied into PostgreSQL, changed in DuckDB and the changed rows merged into PostgreSQL."""
    path = workdir / "warehouse.duckdb"
    path.unlink(missing_ok=True)
    generate_warehouse(path, tasks, relationships)
    with running_server() as server:
        postgres = new_warehouse(server, "bench")
        started = time.perf_counter()
        copy_raw_tables(path, postgres.url)
        print(f"copied into PostgreSQL {server.host}:{server.port}: {time.perf_counter() - started:.1f} s")
        engines = {
            "DuckDB": (warehouse_env(path), workdir / "duckdb", duckdb_query(path)),
            "PostgreSQL": (warehouse_env(path, postgres.url), workdir / "postgres", postgres.query),
        }
        for _, target, _ in engines.values():
            target.mkdir(exist_ok=True)
        builds = {engine: [build("full", env, target)] for engine, (env, target, _) in engines.items()}
        load_ids = change_tasks(path, changes)
        merged = merge_rows(path, postgres.url, "flower.tasks", "uuid", f"_dlt_load_id in {tuple(load_ids)}")
        print(f"merged the {merged:,} changed tasks into PostgreSQL")
        for name, selection in (("incremental", ()), ("no change", ()), ("nothing", SELECTS_NO_NODE)):
            for engine, (env, target, _) in engines.items():
                builds[engine].append(build(name, env, target, *selection))
        for engine, (_, _, query) in engines.items():
            print_report(f"{engine}, {tasks:,} tasks", builds[engine], query)
    return {f"{engine} {tasks:,}": done for engine, done in builds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000_000)
    parser.add_argument(
        "--postgres-tasks",
        type=int,
        default=1_000_000,
        help="then the same builds at this size on DuckDB and on PostgreSQL (0: DuckDB at --tasks only)",
    )
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--relationships", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="generate and keep the warehouses in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskline-bench-") as scratch:
        workdir = args.keep or Path(scratch)
        runs = {}
        if args.tasks:
            (workdir / "duckdb").mkdir(parents=True, exist_ok=True)
            runs[f"DuckDB {args.tasks:,}"] = bench_duckdb(
                workdir / "duckdb", args.tasks, args.changes, args.relationships
            )
        if args.postgres_tasks:
            (workdir / "both").mkdir(parents=True, exist_ok=True)
            runs |= bench_both_engines(
                workdir / "both", args.postgres_tasks, args.changes, args.relationships
            )
        print_side_by_side(runs)


if __name__ == "__main__":
    main()
