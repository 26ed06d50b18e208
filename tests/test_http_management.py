"""taskline as a service, driven over HTTP: real `dagster-webserver` + `dagster-daemon` (make serve) on a real
Flower stack and the SQLFlow stand-in, a temp DAGSTER_HOME and free ports.

The README's Python and curl blocks ("Managing pipelines over HTTP") are run as written; a run is cancelled
mid-load and the next one is exact; the daemon ticks a one-minute schedule on a fresh warehouse; and a
headless Chromium opens the Dagster UI and the dbt docs and saves screenshots.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import dagster as dg
import duckdb
import pytest
from dagster_graphql import DagsterGraphQLClient

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack, free_port
from demo.workload import flower_tasks, run_workload, wait_until_flower_shows_final
from tests.test_dead_runs import StallingProxy, assert_every_task_once_in_its_final_state

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
NEVER = "0 0 1 1 *"  # a cron that does not tick during a test
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Service:
    flower: FlowerStack
    proxy: StallingProxy
    env: dict[str, str]
    port: int
    warehouse: Path
    docs: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port)


def readme_block(marker: str) -> str:
    """The fenced block that follows `<!-- http-management:<marker> -->` in the README."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- http-management:{marker} -->\n```\w+\n(.*?)\n```", readme, re.S)
    assert found, f"README has no http-management:{marker} block"
    return found.group(1)


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("service")
    with (
        FlowerStack(workdir / "flower") as flower,
        SQLFlowStandIn() as sqlflow,
        StallingProxy(flower.base_url) as proxy,
    ):
        proxy.release.set()  # pass everything through until a test wants a run stalled mid-load
        run_workload(flower)
        env = {
            **os.environ,
            **demo_source_env(flower, sqlflow),
            "SOURCES__FLOWER__BASE_URL": proxy.base_url,
            "SOURCES__FLOWER__PAGE_SIZE": "20",
            "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
            "DAGSTER_HOME": str(workdir / "dagster_home"),
            "TASKLINE_DOCS_DIR": str(workdir / "docs"),
            "TASKLINE_FLOWER_CAPTURE_SCHEDULE": NEVER,
            "TASKLINE_FLOWER_MARTS_SCHEDULE": NEVER,
            "TASKLINE_SQLFLOW_SCHEDULE": NEVER,
        }
        with served(env, workdir / "serve.log") as port:
            yield Service(
                flower,
                proxy,
                env,
                port,
                workdir / "warehouse.duckdb",
                workdir / "docs",
                workdir / "serve.log",
            )


class served:
    """`python -m orchestration.serve` on a free port until the block ends (then SIGTERM, as Ctrl-C does)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log, self.port = env, log, free_port()

    def __enter__(self) -> int:
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orchestration.serve", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 240
        while "taskline is up" not in self.log.read_text():
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()[-4000:]
            time.sleep(0.5)
        return self.port

    def __exit__(self, *exc_info) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def wait_for_status(client: DagsterGraphQLClient, run_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while (status := client.get_run_status(run_id).value) not in FINISHED:
        assert time.monotonic() < deadline, f"run {run_id} still {status}"
        time.sleep(1)
    return status


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_the_readme_python_client_launches_flower_load_and_polls_it_to_success(service):
    completed = subprocess.run(
        [sys.executable, "-c", readme_block("python")],
        env={**service.env, "DAGSTER_PORT": str(service.port)},
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    run_id, status = completed.stdout.split()
    assert status == "SUCCESS", service.log.read_text()[-3000:]
    assert_every_task_once_in_its_final_state(service.warehouse, service.flower)
    assert query(service.warehouse, "select count(*) from marts.task_failure_signatures") == [(4,)]


def test_the_readme_curl_commands_list_launch_and_poll(service):
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_block("curl")],
        env={**service.env, "DAGSTER_URL": service.url},
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    jobs, assets, last = completed.stdout.strip().split("\n")
    [repository] = json.loads(jobs)["data"]["repositoriesOrError"]["nodes"]
    assert repository["location"]["name"] == "taskline"
    assert {job["name"] for job in repository["jobs"]} >= {"flower_load", "sqlflow_load"}
    groups = {
        tuple(node["assetKey"]["path"]): node["groupName"]
        for node in json.loads(assets)["data"]["assetNodes"]
    }
    assert groups[("flower", "tasks")] == "ingest" and groups[("marts", "fct_task_runs")] == "marts"
    run_id, status = last.split()
    assert status == "SUCCESS"
    with dg.DagsterInstance.from_config(service.env["DAGSTER_HOME"]) as instance:
        assert instance.get_run_by_id(run_id).job_name == "flower_load"


def test_a_run_cancelled_mid_load_loses_nothing_and_the_next_run_is_exact(service):
    before = query(service.warehouse, "select uuid, state, _dlt_load_id from flower.tasks order by uuid")
    client = service.flower.celery()
    new = [client.send_task("etl.extract_customers", args=(5000 + i,)).id for i in range(25)]
    wait_until_flower_shows_final(service.flower, new, timeout=60)
    service.proxy.release.clear()
    service.proxy.held.clear()
    graphql = service.client()

    run_id = graphql.submit_job_execution("flower_load", "taskline", "__repository__")
    assert service.proxy.held.wait(timeout=300), "the load never reached its second page"
    graphql.terminate_run(run_id)
    service.proxy.release.set()
    status = wait_for_status(graphql, run_id)

    assert status == "CANCELED"
    assert (
        query(service.warehouse, "select uuid, state, _dlt_load_id from flower.tasks order by uuid") == before
    )
    rerun = graphql.submit_job_execution("flower_load", "taskline", "__repository__")
    assert wait_for_status(graphql, rerun) == "SUCCESS"
    assert_every_task_once_in_its_final_state(service.warehouse, service.flower)


def test_the_first_runs_the_daemon_ticks_on_a_fresh_warehouse_are_green(tmp_path, service):
    """One-minute capture and marts schedules on an empty warehouse and a new DAGSTER_HOME: the first capture
    succeeds, the marts schedule waits for it (a skipped tick, not a red run), then builds them green."""
    env = {
        **service.env,
        "SOURCES__FLOWER__BASE_URL": service.flower.base_url,
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "TASKLINE_DOCS_DIR": str(tmp_path / "docs"),
        "TASKLINE_FLOWER_CAPTURE_SCHEDULE": "* * * * *",
        "TASKLINE_FLOWER_MARTS_SCHEDULE": "* * * * *",
    }
    with served(env, tmp_path / "serve.log"), dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        deadline = time.monotonic() + 480
        while True:
            first = {
                schedule: first_run_of(instance, schedule)
                for schedule in ("flower_capture_every_5_minutes", "flower_marts_every_15_minutes")
            }
            if all(run is not None and run.status.value in FINISHED for run in first.values()):
                break
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-4000:]
            time.sleep(2)

    capture, marts = first["flower_capture_every_5_minutes"], first["flower_marts_every_15_minutes"]
    assert (capture.job_name, capture.status.value) == ("flower_capture", "SUCCESS")
    assert (marts.job_name, marts.status.value) == ("flower_marts", "SUCCESS")
    assert_every_task_once_in_its_final_state(tmp_path / "warehouse.duckdb", service.flower)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        [(runs,)] = connection.execute("select count(*) from marts.fct_task_runs").fetchall()
    assert runs == len(flower_tasks(service.flower))


def first_run_of(instance: dg.DagsterInstance, schedule: str) -> dg.DagsterRun | None:
    ticked = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": schedule}))
    return ticked[-1] if ticked else None


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip(
            "no Chromium on this machine: .ci/run installs Debian's `chromium` package when run as root"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium.new_page(viewport={"width": 1600, "height": 1000})
        chromium.close()


def dismiss_first_visit_dialogs(page) -> None:
    for label in ("Dismiss", "Got it", "Close", "Skip"):
        button = page.get_by_role("button", name=label)
        if button.count():
            button.first.click()


def test_the_ui_and_the_dbt_docs_show_what_a_user_needs(service, browser):
    """Screenshots of the asset graph, a mart's page with its row count, and a dbt docs model page."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser
    graphql = service.client()
    assert (
        wait_for_status(graphql, graphql.submit_job_execution("flower_load", "taskline", "__repository__"))
        == "SUCCESS"
    )

    page.goto(f"{service.url}/locations/taskline/asset-groups/marts/lineage", wait_until="networkidle")
    dismiss_first_visit_dialogs(page)
    page.get_by_text("fct_task_runs").first.wait_for(timeout=60_000)
    page.screenshot(path=SCREENSHOTS / "asset_graph.png")

    page.goto(f"{service.url}/assets/marts/fct_task_runs", wait_until="networkidle")
    dismiss_first_visit_dialogs(page)
    page.get_by_text("Row count").first.wait_for(timeout=60_000)
    [(tasks,)] = query(service.warehouse, "select count(*) from marts.fct_task_runs")
    text = page.inner_text("body")
    assert f"Row count\n{tasks}\n" in text  # the latest materialisation's row count
    # its column schema: names, types and dbt's descriptions
    assert re.search(r"received_at\s+TIMESTAMP WITH TIME ZONE\s+When a worker received the task", text)
    page.screenshot(path=SCREENSHOTS / "mart_fct_task_runs.png", full_page=True)

    handler = partial(SimpleHTTPRequestHandler, directory=str(service.docs))
    docs_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    Thread(target=docs_server.serve_forever, daemon=True).start()
    try:
        docs_url = f"http://127.0.0.1:{docs_server.server_address[1]}"
        page.goto(f"{docs_url}/index.html#!/model/model.taskline.fct_task_runs", wait_until="networkidle")
        page.get_by_text("exception_type").first.wait_for(timeout=60_000)
        page.screenshot(path=SCREENSHOTS / "dbt_docs_fct_task_runs.png", full_page=True)
    finally:
        docs_server.shutdown()
    print(f"screenshots in {SCREENSHOTS}")
