"""The whole `flower_load` job on a Flower with nothing new and a warehouse holding a long task history.

    python -m tests.bench.bench_flower_load [--tasks 10000000]

A real Flower stack with the demo workload and the SQLFlow stand-in; `flower_load` runs once (dlt creates its
tables), then `--tasks` synthetic tasks of 30 days are added to flower.tasks the way dlt writes them (older
load ids) and the marts are rebuilt in full. Then the job runs twice more, as the schedule would: each run
is timed as a whole command (`dagster job execute`, Python start-up and code loading included) and by the
run's own start and end, with its steps. Target: under 30 s on 2 cores. Not collected by pytest.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import run_workload
from tests.bench.history import DAY_S, END_EPOCH, EXCEPTIONS, HISTORY_LOAD_ID, TASK_NAMES, task_rows_sql
from tests.bench.run_steps import steps_of_latest_run
from tests.fixtures.dbt_cli import dbt_command
from tests.fixtures.paths import ROOT

JOB = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "orchestration.definitions"]


def run_job(env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("a") as out:
        subprocess.run([*JOB, "-j", "flower_load"], env=env, cwd=ROOT, stdout=out, stderr=out, check=True)
    return time.perf_counter() - started


def add_history(warehouse: Path, tasks: int) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        history = task_rows_sql("task-", tasks, END_EPOCH - 30 * DAY_S, 30 * DAY_S, HISTORY_LOAD_ID)
        con.execute(f"insert into flower.tasks by name {history}", [TASK_NAMES, EXCEPTIONS])
        [(count,)] = con.execute("select count(*) from flower.tasks").fetchall()
    print(f"flower.tasks now holds {count:,} tasks", flush=True)


def rebuild_in_full(env: dict[str, str], workdir: Path) -> float:
    started = time.perf_counter()
    with (workdir / "dbt_full_refresh.log").open("w") as out:
        subprocess.run(
            dbt_command("build", workdir, "--full-refresh"), env=env, stdout=out, stderr=out, check=True
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_flower_load_") as scratch:
        workdir = Path(scratch)
        with FlowerStack(workdir / "stack") as flower, SQLFlowStandIn() as sqlflow:
            run_workload(flower)
            env = {
                **os.environ,
                **demo_source_env(flower, sqlflow),
                "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
                "DAGSTER_HOME": str(workdir / "dagster_home"),
                "TASKLINE_DOCS_DIR": str(workdir / "docs"),
            }
            (workdir / "dagster_home").mkdir()
            log = workdir / "jobs.log"
            first = run_job(env, log)
            print(f"first flower_load (creates the tables): {first:.1f} s", flush=True)
            add_history(workdir / "warehouse.duckdb", args.tasks)
            print(
                f"dbt build --full-refresh over the history: {rebuild_in_full(env, workdir):.1f} s",
                flush=True,
            )
            runs = []
            for name in ("after the rebuild", "nothing new"):
                wall = run_job(env, log)
                run_s, steps = steps_of_latest_run(workdir / "dagster_home")
                runs.append((name, wall, run_s, steps))
        print(f"\n== flower_load on a Flower with nothing new, {args.tasks:,} tasks of history ==")
        for name, wall, run_s, steps in runs:
            print(f"{name:>18}: {wall:5.1f} s as a command, {run_s:5.1f} s as a run (target < 30 s)")
            print("    " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps))


if __name__ == "__main__":
    main()
