"""Benchmark flower_source against a real Flower holding tens of thousands of tasks.

    python -m tests.bench.bench_flower [--tasks 100000] [--small 20000]

Starts its own stack (Redis + worker + Flower) in a temp dir, fills Flower with etl.noop tasks and prints:
  - the first load's time, against a plain baseline measured in the same run: GET the same pages (newest
    received first, as the load reads them) + insert them into DuckDB in one statement;
  - peak RSS of the load (run in a subprocess) at two task counts, to show memory stays flat;
  - /api/tasks requests of a no-change incremental run, with the default window and with a short one.
Not collected by pytest (the file name does not start with test_).
"""

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from pytest_httpserver import HTTPServer

from demo.stack import FlowerStack
from demo.workload import send_noop_tasks, wait_until_flower_has, wait_until_idle
from tests.fixtures.counting_proxy import CountingProxy

PAGE_SIZE = 1000
FILL_TIMEOUT_S = 1800


def fill_flower(stack: FlowerStack, have: int, total: int) -> None:
    """Top Flower up from `have` to `total` tasks and wait until none is in flight."""
    started = time.monotonic()
    send_noop_tasks(stack, total - have)
    wait_until_flower_has(stack, total, timeout=FILL_TIMEOUT_S)
    wait_until_idle(stack, timeout=FILL_TIMEOUT_S)
    print(f"  Flower holds {total} tasks (filled in {time.monotonic() - started:.0f} s)", flush=True)


def plain_http_into_duckdb(stack: FlowerStack, workdir: Path) -> tuple[float, int]:
    """The baseline: the same pages with requests, rows written as NDJSON and read by DuckDB in one go."""
    started = time.monotonic()
    ndjson = workdir / "baseline.ndjson"
    count, offset = 0, 0
    with ndjson.open("w") as out:
        while True:
            params = {"sort_by": "-received", "limit": PAGE_SIZE, "offset": offset}
            page = stack.api_get("/api/tasks", params=params).json()
            out.writelines(json.dumps(task) + "\n" for task in page.values())
            count += len(page)
            if len(page) < PAGE_SIZE:
                break
            offset += PAGE_SIZE
    with duckdb.connect(str(workdir / "baseline.duckdb")) as connection:
        connection.execute(f"create or replace table tasks as select * from read_json('{ndjson}')")
    return time.monotonic() - started, count


def load_in_subprocess(stack: FlowerStack, warehouse: Path) -> dict:
    """A first load in a fresh interpreter: its wall time, rows loaded and peak RSS (ru_maxrss, KiB)."""
    env = os.environ | stack.source_env() | {"DUCKDB_PATH": str(warehouse)}
    child = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_flower", "--child-load"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def child_load() -> None:
    """Runs in the subprocess: a first load of the tasks (what the baseline reads), then a JSON line."""
    from orchestration.warehouse.engine import warehouse_path
    from orchestration.warehouse.pipelines import make_pipeline
    from sources.flower import flower_source

    started = time.monotonic()
    make_pipeline("flower").run(flower_source().with_resources("tasks"))
    elapsed = time.monotonic() - started
    with duckdb.connect(str(warehouse_path()), read_only=True) as connection:
        [(loaded,)] = connection.execute("select count(*) from flower.tasks").fetchall()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"elapsed_s": elapsed, "rows": loaded, "peak_rss_kib": peak_kib}))


def task_requests_of_rerun(stack: FlowerStack, warehouse: Path, lookback_minutes: float) -> int:
    """Load again with nothing new (same warehouse and state) through a counting proxy."""
    from orchestration.warehouse.pipelines import make_pipeline
    from sources.flower import flower_source

    os.environ["DUCKDB_PATH"] = str(warehouse)
    server = HTTPServer()
    server.start()
    try:
        proxy = CountingProxy(server, stack.base_url)
        source = flower_source(
            base_url=proxy.base_url,
            username=stack.username,
            password=stack.password,
            lookback_minutes=lookback_minutes,
        )
        make_pipeline("flower").run(source)
        return len(proxy.requests_to("/api/tasks"))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in Flower for the main figures")
    parser.add_argument("--small", type=int, default=20_000, help="the smaller count for the RSS comparison")
    parser.add_argument("--child-load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the counting proxy's access log
    if args.child_load:
        child_load()
        return

    with (
        tempfile.TemporaryDirectory(prefix="bench_flower_") as tmp,
        FlowerStack(Path(tmp) / "stack") as stack,
    ):
        workdir = Path(tmp)
        results = {}
        for have, count in ((0, args.small), (args.small, args.tasks)):
            print(f"filling Flower to {count} tasks ...", flush=True)
            fill_flower(stack, have, count)
            results[count] = load_in_subprocess(stack, workdir / f"warehouse_{count}.duckdb")
            print(f"  dlt first load: {results[count]}", flush=True)
        baseline_s, baseline_rows = plain_http_into_duckdb(stack, workdir)
        warehouse = workdir / f"warehouse_{args.tasks}.duckdb"
        rerun_default = task_requests_of_rerun(stack, warehouse, lookback_minutes=10)
        rerun_short = task_requests_of_rerun(stack, warehouse, lookback_minutes=0.05)

    big, small = results[args.tasks], results[args.small]
    print(f"\n== flower_source benchmark ({args.tasks} tasks in Flower, page size {PAGE_SIZE}) ==")
    print(f"(a) plain HTTP GET of the pages + insert into DuckDB: {baseline_s:6.2f} s ({baseline_rows} rows)")
    print(
        f"(b) dlt first load of the tasks resource:            {big['elapsed_s']:6.2f} s ({big['rows']} rows)"
    )
    print(f"    ratio (b)/(a): {big['elapsed_s'] / baseline_s:.2f}x (target <= 1.5x)")
    growth = big["peak_rss_kib"] / small["peak_rss_kib"] - 1
    print(
        f"peak RSS of the load: {small['peak_rss_kib'] / 1024:.0f} MiB at {args.small} tasks, "
        f"{big['peak_rss_kib'] / 1024:.0f} MiB at {args.tasks} tasks ({growth:+.0%}, target <= +10%)"
    )
    print(
        f"/api/tasks requests of a no-change run: {rerun_default} with the default 10-minute window "
        f"(tasks received within it are read again), {rerun_short} once the window has passed "
        "(lookback_minutes=0.05)"
    )


if __name__ == "__main__":
    main()
