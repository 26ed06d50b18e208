"""The dashboards' build and first page load: on the demo's data, then on 10,000,000 tasks of history.

    python -m tests.bench.bench_dashboards [--tasks 10000000] [--only demo|history]

demo: a real Flower stack and the SQLFlow stand-in with the demo workload, the main job without the dashboards,
then `dagster asset materialize --select dashboards/site` timed as a user runs it (process start and code load
included), and its two parts in process: the export (the reader's turn) and the Evidence build, twice with a
copy of the project: the first bundles the app, the second renders the bundled app again (every build after
the first, until the project changes).
history: `bench_dbt --keep` generates `--tasks` tasks of history and builds the marts (its own figures printed
too), then the export (windows ending where that history ends) and the two Evidence builds are timed on it.
For each site: its size, its prerendered pages, and the first load in headless Chromium from a loopback server
(navigation to `load`, and to the first figure shown) of the estate, of the top failing task's page
(prerendered) and of a table's page (rendered in the browser). Goals: a build <= 60 s after the marts build,
a first page load <= 1 s. Not collected by pytest.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from unittest.mock import patch

import duckdb

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import run_workload
from orchestration import settings
from orchestration.dashboards import site
from orchestration.dashboards.export import Health, export
from orchestration.dashboards.site import BuiltSite, build_site
from orchestration.keys import DASHBOARDS_FALLBACK_PAGE
from orchestration.serve.docs_server import UnderPrefix
from tests.bench.history import END_EPOCH
from tests.fixtures.dashboards_project import copy_of_project
from tests.fixtures.paths import ROOT

DAGSTER = str(Path(sys.executable).with_name("dagster"))
MATERIALIZE = [DAGSTER, "asset", "materialize", "-m", "orchestration.definitions", "--select"]


def timed(what: str, action):
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    print(f"  {what}: {seconds:.1f} s", flush=True)
    return result, seconds


def first_loads(site: Path, export_file: Path) -> dict[str, tuple[float, float]]:
    """Seconds to `load` and to the first figure shown, in headless Chromium on loopback, of the estate, the
    page of the task failing most (prerendered) and of a table (rendered in the browser)."""
    from playwright.sync_api import sync_playwright

    with duckdb.connect(str(export_file), read_only=True) as export_db:
        [task] = export_db.execute("select task_slug from tasks order by failures_7d desc limit 1").fetchall()
        [table] = export_db.execute("select table_slug from tables order by table_name limit 1").fetchall()
    quiet = {"prefix": "/dashboards", "fallback": DASHBOARDS_FALLBACK_PAGE, "log_message": lambda *args: None}
    handler = partial(type("Handler", (UnderPrefix,), quiet), directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/dashboards"
    pages = {
        "estate page": ("/", "Open alerts"),
        "top failing task's page (prerendered)": (f"/tasks/{task[0]}/", "Failures, 7 d"),
        "a table's page (rendered in the browser)": (f"/tables/{table[0]}/", "Tasks that feed it"),
    }
    loads = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=["--no-sandbox"]
            )
            for name, (path, figure) in pages.items():
                page = browser.new_page()
                started = time.perf_counter()
                page.goto(base + path, wait_until="load")
                loaded = time.perf_counter() - started
                page.get_by_text(figure).first.wait_for()
                loads[name] = (loaded, time.perf_counter() - started)
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return loads


def report(
    title: str, built: BuiltSite, export_file: Path, export_s: float, builds: tuple[float, float]
) -> None:
    loads = first_loads(built.path, export_file)
    bundling_s, build_s = builds
    print(
        f"\n== {title}\n"
        f"  export {export_s:.1f} s + Evidence build {build_s:.1f} s = {export_s + build_s:.1f} s (goal <= 60 s)\n"
        f"  a build that bundles the app (the first, or the project changed): {bundling_s:.1f} s\n"
        f"  site {built.size_bytes / 1e6:.1f} MB, {built.prerendered_pages} pages prerendered",
        flush=True,
    )
    for name, (loaded, shown) in loads.items():
        print(f"  {name} in Chromium: load {loaded:.2f} s, first figure {shown:.2f} s (goal <= 1 s)")


def export_and_build(
    workdir: Path, engine: str, now: datetime | None = None
) -> tuple[BuiltSite, Path, float, tuple[float, float]]:
    """The export, then two builds from it with a copy of the project: the first bundles the app, the second
    (as each build after it) renders the bundled app again."""
    export_file = workdir / "dashboards" / "taskline.duckdb"
    export_file.parent.mkdir(parents=True, exist_ok=True)
    rows, export_s = timed("export", lambda: export(export_file, Health([], []), engine, now))
    print(f"  rows exported: {rows}")
    with patch.object(site, "PROJECT", copy_of_project(workdir / "project")):
        _, bundling_s = timed(
            "Evidence build, bundling the app", lambda: build_site(export_file, workdir / "dashboards")
        )
        built, build_s = timed(
            "Evidence build, the bundled app rendered again",
            lambda: build_site(export_file, workdir / "dashboards"),
        )
    assert not built.bundled
    return built, export_file, export_s, (bundling_s, build_s)


def bench_demo(workdir: Path) -> None:
    print("\n-- demo: the workload, then the main job without the dashboards", flush=True)
    workdir.mkdir(parents=True)
    with FlowerStack(workdir / "flower") as flower, SQLFlowStandIn() as sqlflow:
        run_workload(flower)
        env = {
            **os.environ,
            **demo_source_env(flower, sqlflow),
            "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
            "DAGSTER_HOME": str(workdir / "dagster_home"),
            settings.DASHBOARDS_DIR_SETTING: str(workdir / "dashboards"),
            "DLT_DATA_DIR": str(workdir / "dlt"),
        }
        (workdir / "dagster_home").mkdir()
        subprocess.run(
            [*MATERIALIZE, "not group:dashboards"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        timed(
            "dagster asset materialize --select dashboards/site (the whole command)",
            lambda: subprocess.run(
                [*MATERIALIZE, "dashboards/site"], env=env, cwd=ROOT, check=True, capture_output=True
            ),
        )
        os.environ.update({name: env[name] for name in ("DUCKDB_PATH", "DLT_DATA_DIR")})
        built, export_file, export_s, builds = export_and_build(workdir, "duckdb")
    report("demo data", built, export_file, export_s, builds)


def bench_history(workdir: Path, tasks: int) -> None:
    print(f"\n-- history: bench_dbt generates {tasks:,} tasks and builds the marts", flush=True)
    workdir.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_dbt", "--tasks", str(tasks), "--postgres-tasks", "0",
         "--keep", str(workdir)],
        cwd=ROOT,
        check=True,
        env={**os.environ, settings.DEMO_SHOP_SETTING: "true"},
    )  # fmt: skip
    os.environ.update(
        {"DUCKDB_PATH": str(workdir / "duckdb" / "warehouse.duckdb"), "DLT_DATA_DIR": str(workdir / "dlt")}
    )
    # the windows end where the generated history ends
    end = datetime.fromtimestamp(END_EPOCH, UTC).replace(tzinfo=None)
    built, export_file, export_s, builds = export_and_build(workdir, "duckdb", end)
    report(f"{tasks:,} tasks of history", built, export_file, export_s, builds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000_000)
    parser.add_argument("--only", choices=("demo", "history"))
    args = parser.parse_args()
    if args.only is None:  # each half in a process of its own: a process keeps the warehouse it published
        for half in ("demo", "history"):
            subprocess.run([sys.executable, "-m", "tests.bench.bench_dashboards", "--only", half,
                            "--tasks", str(args.tasks)], check=True)  # fmt: skip
        return
    with tempfile.TemporaryDirectory(prefix="taskline-bench-dashboards-") as scratch:
        if args.only == "demo":
            bench_demo(Path(scratch) / "demo")
        else:
            bench_history(Path(scratch) / "history", args.tasks)


if __name__ == "__main__":
    main()
