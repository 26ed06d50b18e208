"""taskline as a service, driven over HTTP: real `dagster-webserver` + `dagster-daemon` (make serve) behind
Debian's nginx asking for a login over TLS (a self-signed certificate), on a real Flower stack and the SQLFlow
stand-in, a temp DAGSTER_HOME and free ports.

The README's Python and curl blocks ("Managing pipelines over HTTP") are run as written, with the login; nothing
but /health answers without it; /health tells a stopped daemon; failed logins are slowed, then refused, an
unknown name answered as a known one, a user added or removed while serving logs in or not at once; a run is
cancelled mid-load and the next one is exact; and a headless Chromium logs in, follows a run live over the websocket, opens the dbt docs and saves screenshots.
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import requests
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
from gql.transport.requests import RequestsHTTPTransport
from requests.auth import HTTPBasicAuth

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import run_workload, wait_until_flower_shows_final
from orchestration.dashboards.export import slug
from tests.fixtures.final_states import assert_every_task_once_in_its_final_state
from tests.fixtures.launches import SHELL_OVERRIDE_REFUSED, shell_override
from tests.fixtures.logins import (
    PASSWORD,
    USER,
    VIEWER,
    VIEWER_PASSWORD,
    self_signed_certificate,
    users_file,
)
from tests.fixtures.paths import ROOT
from tests.fixtures.served import NEVER, served, wait_for_status
from tests.fixtures.stalling_proxy import StallingProxy

pytestmark = pytest.mark.end_to_end

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
    dashboards: Path
    log: Path
    certificate: Path
    serve_pid: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self) -> DagsterGraphQLClient:
        transport = RequestsHTTPTransport(
            f"{self.url}/graphql",
            use_json=True,
            auth=HTTPBasicAuth(USER, PASSWORD),
            verify=str(self.certificate),
        )
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port, transport=transport)

    def get(self, path: str, **options) -> requests.Response:
        return requests.get(f"{self.url}{path}", verify=str(self.certificate), timeout=30, **options)


def readme_block(marker: str) -> str:
    """The fenced block that follows `<!-- http-management:<marker> -->` in the README."""
    readme = (ROOT / "orchestration" / "serve" / "README.md").read_text()
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
        certificate, key = self_signed_certificate(workdir)
        users = users_file(workdir / "users")
        users_file(users, VIEWER, VIEWER_PASSWORD, role="viewer")
        env = {
            **os.environ,
            **demo_source_env(flower, sqlflow),
            "SOURCES__FLOWER__BASE_URL": proxy.base_url,
            "SOURCES__FLOWER__PAGE_SIZE": "20",
            "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
            "DAGSTER_HOME": str(workdir / "dagster_home"),
            "TASKLINE_DOCS_DIR": str(workdir / "docs"),
            "TASKLINE_DASHBOARDS_DIR": str(workdir / "dashboards"),
            "TASKLINE_FLOWER_CAPTURE_SCHEDULE": NEVER,
            "TASKLINE_FLOWER_MARTS_SCHEDULE": NEVER,
            "TASKLINE_SQLFLOW_SCHEDULE": NEVER,
            "TASKLINE_PASSWORD_FILE": str(users),
            "TASKLINE_TLS_CERT": str(certificate),
            "TASKLINE_TLS_KEY": str(key),
            "TASKLINE_HEALTH_HEARTBEAT_TOLERANCE_S": "10",
        }
        with served(env, workdir / "serve.log") as server:
            yield Service(
                flower,
                proxy,
                env,
                server.port,
                workdir / "warehouse.duckdb",
                workdir / "docs",
                workdir / "dashboards",
                workdir / "serve.log",
                certificate,
                server.process.pid,
            )


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def readme_login(service: Service) -> dict[str, str]:
    """What the README's blocks read: the address, the login, and (a self-signed certificate) its CA."""
    return {
        "TASKLINE_URL": service.url,
        "TASKLINE_USER": USER,
        "TASKLINE_PASSWORD": PASSWORD,
        "REQUESTS_CA_BUNDLE": str(service.certificate),
        "CURL_CA_BUNDLE": str(service.certificate),
    }


def test_the_readme_python_client_launches_flower_load_and_polls_it_to_success(service):
    completed = subprocess.run(
        [sys.executable, "-c", readme_block("python")],
        env={**service.env, **readme_login(service)},
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
        env={**service.env, **readme_login(service)},
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


def test_a_launch_that_reconfigures_a_resource_is_refused_over_graphql_and_starts_nothing(service, tmp_path):
    """Issue 28: run config making dbt's resource run a shell command, sent as the UI and GraphQL clients do."""
    marker = tmp_path / "payload-ran"
    with dg.DagsterInstance.from_config(service.env["DAGSTER_HOME"]) as instance:
        runs_before = len(instance.get_runs())
        with pytest.raises(DagsterGraphQLClientError) as refused:
            service.client().submit_job_execution(
                "flower_marts", "taskline", "__repository__", run_config=shell_override(marker)
            )
        assert len(instance.get_runs()) == runs_before
    kind, errors = refused.value.args
    assert kind == "RunConfigValidationInvalid"
    assert [error["message"] for error in errors] == [SHELL_OVERRIDE_REFUSED]
    assert not marker.exists()


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


@pytest.fixture
def browser_as():
    """A headless Chromium page logged in as the given user (the login a user types into the browser's prompt;
    the test's self-signed certificate accepted)."""
    if CHROMIUM is None:
        pytest.skip(
            "no Chromium on this machine: .ci/run installs Debian's `chromium` package when run as root"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)

        def page_of(user: str, password: str):
            context = chromium.new_context(
                viewport={"width": 1600, "height": 1000},
                http_credentials={"username": user, "password": password},
                ignore_https_errors=True,
            )
            return context.new_page()

        yield page_of
        chromium.close()


@pytest.fixture
def browser(browser_as):
    return browser_as(USER, PASSWORD)


# the UI draws after its GraphQL answers: seconds, even with every core busy; a page that never shows the text
# fails within a minute, with what it showed instead
DRAWN_WITHIN_MS = 60_000


def wait_until_shown(locator, page, shot: str) -> None:
    """Wait for a visible match; if none comes, fail with a screenshot and what the page showed instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.filter(visible=True).first.wait_for(timeout=DRAWN_WITHIN_MS)
    except PlaywrightTimeout:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{shot}-not-shown.png", full_page=True)
        shown = " ".join(page.inner_text("body").split())[:1500]
        pytest.fail(
            f"{locator} not shown at {page.url} within {DRAWN_WITHIN_MS // 1000} s; the page: {shown}"
        )


def dismiss_first_visit_dialogs(page) -> None:
    for label in ("Dismiss", "Got it", "Close", "Skip"):
        button = page.get_by_role("button", name=label)
        if button.count():
            button.first.click()


@pytest.mark.browser
def test_the_ui_and_the_dbt_docs_show_what_a_user_needs(service, browser):
    """Logged in through the proxy: a run followed live over the websocket, screenshots of the asset graph, a
    mart's page with its row count, and a dbt docs model page."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser
    frames: list[str] = []
    page.on(
        "websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(str(payload)))
    )
    graphql = service.client()
    run_id = graphql.submit_job_execution("flower_load", "taskline", "__repository__")
    page.goto(f"{service.url}/runs/{run_id}", wait_until="networkidle")
    dismiss_first_visit_dialogs(page)
    # the run page's log arrives over the websocket while the run goes on
    page.get_by_text("RUN_SUCCESS").first.wait_for(timeout=600_000)
    assert wait_for_status(graphql, run_id) == "SUCCESS"
    assert any("RunSuccessEvent" in frame for frame in frames), f"{len(frames)} websocket frames"

    # fct_task_runs in the asset graph, with what it is built from and what reads it: its own lineage tab centres
    # it (the group's whole graph opens at a zoom and place of its own, where it may lie out of view)
    page.goto(f"{service.url}/assets/marts/fct_task_runs?view=lineage", wait_until="networkidle")
    dismiss_first_visit_dialogs(page)
    graph_node = page.locator("[class*='AssetNode_assetName']", has_text=re.compile(r"^fct_task_runs$"))
    wait_until_shown(graph_node, page, "asset_graph")
    page.screenshot(path=SCREENSHOTS / "asset_graph.png")

    page.goto(f"{service.url}/assets/marts/fct_task_runs", wait_until="networkidle")
    dismiss_first_visit_dialogs(page)
    wait_until_shown(page.get_by_text("Row count"), page, "mart_fct_task_runs")
    [(tasks,)] = query(service.warehouse, "select count(*) from marts.fct_task_runs")
    text = page.inner_text("body")
    assert f"Row count\n{tasks}\n" in text  # the latest materialisation's row count
    # its column schema: names, types and dbt's descriptions
    assert re.search(r"received_at\s+TIMESTAMP WITH TIME ZONE\s+When a worker received the task", text)
    page.screenshot(path=SCREENSHOTS / "mart_fct_task_runs.png", full_page=True)

    page.goto(f"{service.url}/docs/#!/model/model.taskline.fct_task_runs", wait_until="networkidle")
    wait_until_shown(page.get_by_text("exception_type"), page, "dbt_docs_fct_task_runs")
    page.screenshot(path=SCREENSHOTS / "dbt_docs_fct_task_runs.png", full_page=True)
    print(f"screenshots in {SCREENSHOTS}")


def big_value(text: str, title: str) -> str:
    """The figure an Evidence BigValue shows under its title."""
    found = re.search(rf"{re.escape(title)}\s+(\S+)", text)
    assert found, f"no {title!r} on the page"
    return found.group(1)


def mart_has_rows(warehouse: Path, mart: str) -> bool:
    built = warehouse.exists() and query(
        warehouse,
        f"select count(*) from information_schema.tables where table_schema = 'marts' and table_name = '{mart}'",
    ) == [(1,)]
    return built and query(warehouse, f"select count(*) > 0 from marts.{mart}") == [(True,)]


@pytest.mark.browser
def test_a_viewer_reads_the_dashboards_and_their_figures_are_the_marts(service, browser_as):
    """dashboards_build launched over GraphQL builds the site from the marts; a viewer opens the estate, a task
    page and a table page at /dashboards/ behind the login: each figure read from the page equals SQL on the
    marts, the tasks' search finds a task, screenshots kept. It loads nothing the module's other tests do not
    (the /health test counts the loads)."""
    graphql = service.client()
    if not mart_has_rows(service.warehouse, "fct_task_runs"):  # not yet loaded by the module's other tests
        run_id = graphql.submit_job_execution("flower_load", "taskline", "__repository__")
        assert wait_for_status(graphql, run_id) == "SUCCESS"
    run_id = graphql.submit_job_execution("dashboards_build", "taskline", "__repository__")
    assert wait_for_status(graphql, run_id) == "SUCCESS"
    [(exported_at,)] = query(service.dashboards / "taskline.duckdb", "select exported_at from export_info")
    since = f"timestamp '{exported_at:%Y-%m-%d %H:%M:%S}'"
    [(alerts,)] = query(
        service.warehouse,
        "select (select count(*) from marts.task_failure_alerts where alert_level is not null)"
        " + (select count(*) from marts.operations_alerts where alert_level is not null)",
    )
    [(failures_24h, failures_7d, runs_7d)] = query(
        service.warehouse,
        f"""select count(*) filter (where is_failure and date_trunc('hour', activity_at) >= {since} - interval 24 hour),
            count(*) filter (where is_failure), count(*)
        from marts.fct_task_runs where date_trunc('hour', activity_at) >= {since} - interval 7 day""",
    )
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser_as(VIEWER, VIEWER_PASSWORD)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    estate = page.goto(f"{service.url}/dashboards/", wait_until="networkidle")
    assert "connect-src 'self'" in estate.headers["content-security-policy"]  # queries reach no other site
    text = page.inner_text("body")
    assert big_value(text, "Open alerts") == str(alerts)
    assert big_value(text, "Failures, last 24 h") == str(failures_24h)
    assert big_value(text, "Failure rate, 7 d") == f"{failures_7d / runs_7d:.1%}"
    page.screenshot(path=SCREENSHOTS / "dashboards_estate.png", full_page=True)

    page.goto(f"{service.url}/dashboards/tasks/", wait_until="networkidle")
    page.locator("td:visible", has_text="etl.load_payments").first.wait_for()  # every task listed
    page.get_by_role("textbox", name="Search").fill("extract_ord")  # the tasks table's search box
    expect(page.locator("td:visible", has_text="etl.load_payments")).to_have_count(0)
    page.screenshot(path=SCREENSHOTS / "dashboards_search.png", full_page=True)
    page.locator("td:visible", has_text="etl.extract_orders").first.click()
    page.wait_for_url(f"**/dashboards/tasks/{slug('etl.extract_orders')}/")
    page.get_by_text("Failures, 7 d").first.wait_for()
    [(task_failures, task_runs)] = query(
        service.warehouse,
        f"""select count(*) filter (where is_failure), count(*) from marts.fct_task_runs
        where task_name = 'etl.extract_orders' and date_trunc('day', activity_at) >= {since} - interval 7 day""",
    )
    text = page.inner_text("body")
    assert big_value(text, "Failures, 7 d") == str(task_failures)
    assert big_value(text, "Runs, 7 d") == str(task_runs)
    page.screenshot(path=SCREENSHOTS / "dashboards_task.png", full_page=True)

    # raw.orders has nothing upstream: the tasks that put it at risk are its failing writers, lineage or not
    [(writers_failing,)] = query(
        service.warehouse,
        """select count(distinct map.task_name) from seeds.task_table_map as map
        inner join marts.fct_task_runs as runs on runs.task_name = map.task_name and runs.is_failure
        where map.table_name = 'raw.orders'""",
    )
    assert writers_failing >= 1
    # not prerendered: nginx answers with the page that renders it in the browser
    page.goto(f"{service.url}/dashboards/tables/{slug('raw.orders')}/", wait_until="networkidle")
    expect(page.locator("body")).to_contain_text(
        re.compile(rf"At risk: {writers_failing} tasks? writing it"), timeout=30_000
    )
    page.screenshot(path=SCREENSHOTS / "dashboards_table.png", full_page=True)
    # Evidence's own noise: its service worker (an offline cache) cannot register over the test's self-signed
    # certificate, and its tables' hover preload leaves out the base path (the click itself goes right)
    harmless = ("SSL certificate error", "Attempted to preload a URL that does not belong to this app")
    assert [error for error in errors if not any(noise in error for noise in harmless)] == []


LOGINS_REFUSED = {
    "no login": {},
    "a wrong password": {"auth": (USER, "not-the-password")},
    "an unknown user": {"auth": ("someone", PASSWORD)},
    "a bearer token": {"headers": {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.expired"}},
    "a malformed basic token": {"headers": {"Authorization": "Basic !!not-base64!!"}},
}


@pytest.mark.parametrize(
    "path",
    [
        *["/", "/graphql", "/runs", "/docs/", "/docs/index.html", "/docs/manifest.json"],
        *[
            "/dashboards/",
            "/dashboards/tasks/",
            "/dashboards/tables/raw-00000000/",
            "/dashboards/data/manifest.json",
        ],
    ],
)
def test_without_a_valid_login_nothing_answers_but_401(service, path):
    for why, options in LOGINS_REFUSED.items():
        response = service.get(path, **options)
        assert response.status_code == 401, (why, response.status_code)
        assert response.headers["WWW-Authenticate"] == 'Basic realm="taskline"', why
        assert "dagster" not in response.text.lower() and "manifest" not in response.text, why
    posted = requests.post(
        f"{service.url}/graphql",
        json={"query": "mutation { wipeAssets(assetPartitionRanges: []) { __typename } }"},
        verify=str(service.certificate),
        timeout=30,
    )
    assert posted.status_code == 401


def serve_children(serve_pid: int, program: str) -> list[int]:
    """The pids of the processes `make serve` started to run `program` (a binary, or a script run by the
    venv's python)."""
    found = []
    for pid in Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split():
        with suppress(FileNotFoundError):  # one that ended meanwhile
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            if program in (Path(arg).name for arg in argv):
                found.append(int(pid))
    return found


def serve_child(serve_pid: int, program: str) -> int:
    """The pid of the process `make serve` started to run `program` (a script run by the venv's python)."""
    found = serve_children(serve_pid, program)
    assert found, f"make serve runs no {program}"
    return found[0]


def test_health_answers_without_a_login_and_tells_a_stopped_daemon(service):
    graphql = service.client()
    capture = graphql.submit_job_execution("flower_capture", "taskline", "__repository__")  # no dbt: quicker
    assert wait_for_status(graphql, capture) == "SUCCESS"
    with dg.DagsterInstance.from_config(service.env["DAGSTER_HOME"]) as instance:
        keys = instance.get_asset_keys(prefix=["flower"])
        loaded = max(
            event.timestamp for event in instance.get_latest_materialization_events(keys).values() if event
        )
        daemons = sorted(instance.get_required_daemon_types())

    # a daemon busy with the run may heartbeat late for a moment (the tolerance set here is only 10 s)
    deadline = time.monotonic() + 120
    while (healthy := service.get("/health")).status_code != 200:
        assert time.monotonic() < deadline, healthy.text
        time.sleep(2)

    report = healthy.json()
    assert report["healthy"] is True and report["webserver"] == {"up": True}
    assert report["daemon"]["healthy"] is True and report["daemon"]["not_heartbeating"] == []
    assert report["last_successful_load"] == {
        "flower": datetime.fromtimestamp(loaded, UTC).isoformat(),
        "sqlflow": None,
    }

    daemon = serve_child(service.serve_pid, "dagster-daemon")
    os.kill(daemon, signal.SIGSTOP)
    try:
        # Dagster's 30 s heartbeat interval + the 10 s tolerance set here, from each daemon's last beat
        deadline = time.monotonic() + 120
        while (stopped := service.get("/health")).json()["daemon"]["not_heartbeating"] != daemons:
            assert time.monotonic() < deadline, f"the stopped daemon still counts as healthy: {stopped.text}"
            time.sleep(2)
    finally:
        os.kill(daemon, signal.SIGCONT)
    assert stopped.status_code == 503
    report = stopped.json()
    assert report["healthy"] is False and report["webserver"] == {"up": True}
    assert report["daemon"]["healthy"] is False
    deadline = time.monotonic() + 120
    while service.get("/health").status_code != 200:  # heartbeating again once it runs
        assert time.monotonic() < deadline, "the daemon did not come back"
        time.sleep(2)


def test_with_the_login_the_ui_graphql_and_docs_answer_and_forgeable_graphql_is_refused(service):
    login = (USER, PASSWORD)
    assert service.get("/", auth=login).status_code == 200
    assert service.get("/docs/", auth=login).content == (service.docs / "index.html").read_bytes()
    answer = requests.post(
        f"{service.url}/graphql", json={"query": "{ version }"}, auth=login, verify=str(service.certificate)
    )
    assert answer.json() == {"data": {"version": dg.__version__}}
    # what a link or a cross-site form could send with a browser's cached login: refused before Dagster
    assert service.get("/graphql", params={"query": "mutation { __typename }"}, auth=login).status_code == 403
    form = requests.post(
        f"{service.url}/graphql?query=mutation%20%7B%20__typename%20%7D",
        data={"a": "b"},
        auth=login,
        verify=str(service.certificate),
    )
    assert form.status_code == 403
    with pytest.raises(requests.exceptions.SSLError):  # a client that does not trust the certificate
        requests.get(f"{service.url}/health", timeout=30)


def basic_login(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def login_attempt(
    url: str, port: int, source: str, password: str, context: ssl.SSLContext
) -> tuple[int, float]:
    """One GET / from the loopback address `source` (the login's limits count per client address)."""
    started = time.monotonic()
    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, source_address=(source, 0), context=context, timeout=120
    )
    connection.request("GET", "/", headers=basic_login(USER, password))
    status = connection.getresponse().status
    connection.close()
    return status, time.monotonic() - started


def test_repeated_wrong_passwords_are_slowed_then_refused_while_the_right_one_still_works(service):
    """From one address: a few typos answer at once, then one failed check per 2 s; at most 16 checks in
    flight, the rest refused (429) at 2 per second; meanwhile a logged-in user elsewhere is not slowed."""
    context = ssl.create_default_context(cafile=str(service.certificate))
    attempt = partial(login_attempt, service.url, service.port, "127.0.0.2", context=context)
    # 40 connections made (TLS handshake done) first, so their requests all arrive within milliseconds
    flood = []
    for _ in range(40):
        connection = http.client.HTTPSConnection(
            "127.0.0.1", service.port, source_address=("127.0.0.2", 0), context=context, timeout=120
        )
        connection.connect()
        flood.append(connection)

    typos = [attempt(password=f"typo-{number}") for number in range(8)]
    assert [status for status, _ in typos] == [401] * 8
    # 6 at once (5 typos' grace), then held: the 7th and 8th ~2 s each
    assert max(took for _, took in typos[:6]) < 1.5 and min(took for _, took in typos[6:]) > 1, typos

    def guess(connection: http.client.HTTPSConnection) -> tuple[int, float, str | None]:
        started = time.monotonic()
        connection.request("GET", "/", headers=basic_login(USER, f"guess-{id(connection)}"))
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, time.monotonic() - started, response.getheader("WWW-Authenticate")

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = pool.map(guess, flood)
        time.sleep(3)  # the flood is held now: 16 checks in flight, refusals leaving at 2/s
        started = time.monotonic()
        meanwhile = service.get("/", auth=(USER, PASSWORD))  # from 127.0.0.1
        elsewhere = time.monotonic() - started
        answers = list(answers)

    assert meanwhile.status_code == 200 and elsewhere < 2, (meanwhile.status_code, elsewhere)
    statuses = [status for status, _, _ in answers]
    assert (statuses.count(401), statuses.count(429)) == (16, 24), answers
    assert {header for status, _, header in answers if status == 401} == {'Basic realm="taskline"'}
    failed = sorted(took for status, took, _ in answers if status == 401)
    refused = sorted(took for status, took, _ in answers if status == 429)
    # the 16 checks answer one per 2 s (the last after ~32 s); the 24 refusals 2 per second (~12 s)
    assert failed[0] > 1 and 26 < failed[-1] < 60, failed
    assert refused[0] < 1.5 and 9 < refused[-1] < 20, refused
    assert attempt(password=PASSWORD)[0] == 200  # the user who knows the password is not locked out
    assert (
        attempt.func(service.url, service.port, "127.0.0.3", "guess", context)[0] == 401
    )  # nor other clients


def test_a_wrong_password_for_an_unknown_name_is_answered_as_for_a_known_one(service):
    """Same status, headers and body: the answer tells nothing of whether the name exists (and costs the
    same, one bcrypt at the users' cost: `make bench` measures it)."""
    answers = {
        name: service.get("/graphql", auth=(name, f"wrong-password-for-{name}"))
        for name in (USER, "nobody-of-ours", USER.upper(), VIEWER)
    }

    def seen(response: requests.Response) -> tuple:
        headers = {name.lower(): value for name, value in response.headers.items() if name != "Date"}
        return response.status_code, headers, response.content

    known = seen(answers[USER])
    assert known[0] == 401 and known[1]["www-authenticate"] == 'Basic realm="taskline"'
    assert {name: seen(answer) for name, answer in answers.items()} == dict.fromkeys(answers, known)


def test_no_password_hash_or_token_in_the_logs_or_the_process_list(service):
    hashed = Path(service.env["TASKLINE_PASSWORD_FILE"]).read_text().split(":")[1]
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    secrets = [PASSWORD, hashed, token, hashed[7:29]]  # the hash whole and its salt
    logs = service.log.read_text()
    # the failed logins and floods above are counted and held, and log nothing (below nginx's `warn`)
    assert "password mismatch" not in logs
    assert 'zone "failed_checks"' not in logs and 'zone "login_checks"' not in logs
    process_list = subprocess.run(["ps", "axww", "-o", "args"], capture_output=True, text=True).stdout
    assert "nginx: master process" in process_list
    assert re.search(r"caddy run --config /\S+/login-check-\d+\.json", process_list)
    for secret in secrets:
        assert secret not in logs and secret not in process_list


def graphql_as(service: Service, login: tuple[str, str], text: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{service.url}/graphql",
        json={"query": text},
        auth=login,
        headers=headers,
        verify=str(service.certificate),
        timeout=60,
    )


LAUNCH_FLOWER_LOAD = """mutation { launchRun(executionParams: {selector: {repositoryLocationName: "taskline",
  repositoryName: "__repository__", jobName: "flower_load"}, runConfigData: "{}"}) { __typename } }"""
MUTATIONS = {
    "launch": LAUNCH_FLOWER_LOAD,
    "delete a run": 'mutation { deletePipelineRun(runId: "%s") { __typename } }',
    "turn a schedule on": """mutation { startSchedule(scheduleSelector: {repositoryLocationName: "taskline",
      repositoryName: "__repository__", scheduleName: "flower_marts_every_15_minutes"}) { __typename } }""",
    "reset a schedule": """mutation { resetSchedule(scheduleSelector: {repositoryLocationName: "taskline",
      repositoryName: "__repository__", scheduleName: "flower_marts_every_15_minutes"}) { __typename } }""",
    "wipe the assets": """mutation { wipeAssets(assetPartitionRanges: [{assetKey: {path: ["flower", "tasks"]}}])
      { __typename } }""",
}


def schedule_status(service: Service, login: tuple[str, str]) -> str:
    answer = graphql_as(
        service,
        login,
        """{ scheduleOrError(scheduleSelector: {repositoryLocationName: "taskline", repositoryName:
        "__repository__", scheduleName: "flower_marts_every_15_minutes"}) { ... on Schedule
        { scheduleState { status } } } }""",
    ).json()
    return answer["data"]["scheduleOrError"]["scheduleState"]["status"]


def test_a_viewer_reads_everything_and_changes_nothing(service):
    viewer = (VIEWER, VIEWER_PASSWORD)
    with dg.DagsterInstance.from_config(service.env["DAGSTER_HOME"]) as instance:
        runs_before = [run.run_id for run in instance.get_runs()]
    some_run = runs_before[0] if runs_before else "00000000-0000-0000-0000-000000000000"
    status_before = schedule_status(service, viewer)

    assert graphql_as(service, viewer, "{ version }").json() == {"data": {"version": dg.__version__}}
    runs = graphql_as(service, viewer, "{ runsOrError { ... on Runs { results { runId } } } }").json()
    assert [run["runId"] for run in runs["data"]["runsOrError"]["results"]] == runs_before
    assert service.get("/docs/", auth=viewer).status_code == 200
    assert service.get("/runs", auth=viewer).status_code == 200
    for what, mutation in MUTATIONS.items():
        answer = graphql_as(service, viewer, mutation.replace("%s", some_run)).json()
        [typename] = [value["__typename"] for value in answer["data"].values()]
        assert typename == "UnauthorizedError", (what, answer)
    reported = requests.post(
        f"{service.url}/report_asset_check/flower/tasks",
        params={"check_name": "every_task_in_flower_is_loaded", "passed": "true"},
        auth=viewer,
        verify=str(service.certificate),
        timeout=60,
    )
    assert reported.status_code == 401

    with dg.DagsterInstance.from_config(service.env["DAGSTER_HOME"]) as instance:
        assert [run.run_id for run in instance.get_runs()] == runs_before
    assert schedule_status(service, viewer) == status_before


def permission(service: Service, login: tuple[str, str], name: str) -> bool:
    answer = graphql_as(service, login, "{ permissions { permission value } }").json()
    return {row["permission"]: row["value"] for row in answer["data"]["permissions"]}[name]


def test_a_changed_role_applies_while_serving(service):
    viewer = (VIEWER, VIEWER_PASSWORD)
    assert permission(service, viewer, "launch_pipeline_execution") is False

    def set_role(role: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "orchestration.serve.users", "role", VIEWER, role],
            env={**service.env},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 30
        while permission(service, viewer, "launch_pipeline_execution") is not (role == "operator"):
            assert time.monotonic() < deadline, f"{VIEWER} is not yet an {role}"
            time.sleep(0.5)

    set_role("operator")
    set_role("viewer")
    assert "roles reloaded" in service.log.read_text()


def test_a_user_added_while_serving_logs_in_at_once_and_a_removed_one_cannot(service):
    password_file = Path(service.env["TASKLINE_PASSWORD_FILE"])
    newcomer = ("newcomer", "a-long-newcomer-password-3")
    assert service.get("/", auth=newcomer).status_code == 401

    def answers_within(login: tuple[str, str], status: int, what: str) -> None:
        deadline = time.monotonic() + 30
        while (answer := service.get("/", auth=login).status_code) != status:
            assert time.monotonic() < deadline, f"{what}: still {answer}"
            time.sleep(0.5)

    users_file(password_file, *newcomer, role="viewer")
    answers_within(newcomer, 200, "the new user cannot log in")
    assert permission(service, newcomer, "launch_pipeline_execution") is False

    subprocess.run(
        [sys.executable, "-m", "orchestration.serve.users", "remove", newcomer[0]],
        env={**service.env},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    answers_within(newcomer, 401, "the removed user still logs in")
    assert service.get("/", auth=(USER, PASSWORD)).status_code == 200
    # the Caddys of the earlier files are stopped a few seconds after nginx moved on; serve keeps running
    deadline = time.monotonic() + 30
    while len(serve_children(service.serve_pid, "caddy")) != 1:
        assert time.monotonic() < deadline, serve_children(service.serve_pid, "caddy")
        time.sleep(0.5)
    assert "exited with code" not in service.log.read_text()


def dagster_routes() -> list:
    """The webserver's own routes, as the pinned dagster-webserver builds them (no path prefix)."""
    from dagster_webserver.webserver import DagsterWebserver

    webserver = DagsterWebserver.__new__(DagsterWebserver)  # the routes only: no instance, no workspace
    webserver._app_path_prefix = ""
    return webserver.build_routes()


def concrete(path: str) -> str:
    """A path the route answers: its parameters filled in."""
    return re.sub(r"\{[^}]+\}", "flower/tasks", path) if "{" in path else path


FOREIGN_PAGE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
FOREIGN_FORM = {
    "Origin": "https://evil.example",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
}


def test_another_sites_page_reaches_no_route_of_the_webserver(service):
    """Every route the webserver has, by every method it takes, sent with an operator's login from another
    site's page (a fetch, an <img>, a form): refused by the proxy. Only a link to a page of the UI is followed."""
    from starlette.routing import Mount, WebSocketRoute

    operator = (USER, PASSWORD)
    tried = []
    for route in dagster_routes():
        if isinstance(route, WebSocketRoute):
            continue  # below
        path = f"{route.path}/x.js" if isinstance(route, Mount) else concrete(route.path)
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            for headers in (FOREIGN_PAGE, FOREIGN_FORM, {"Sec-Fetch-Site": "same-site"}):
                if method in ("GET", "HEAD") and headers is FOREIGN_FORM:
                    continue  # a link followed from another site
                answer = requests.request(
                    method,
                    f"{service.url}{path}",
                    auth=operator,
                    headers=headers,
                    verify=str(service.certificate),
                    timeout=60,
                    allow_redirects=False,
                )
                assert answer.status_code == 403, (method, path, headers, answer.status_code)
                tried.append((method, path))
    assert ("POST", "/report_asset_check/flower/tasks") in tried and ("POST", "/graphql") in tried
    followed = service.get(
        "/runs", auth=operator, headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    )
    assert followed.status_code == 200
    # the same requests from the UI's own pages pass
    own = {"Origin": service.url, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    as_the_ui = requests.post(
        f"{service.url}/graphql?op=Version",  # the UI names each operation in the URL
        json={"query": "query Version { version }"},
        auth=operator,
        headers=own,
        verify=str(service.certificate),
        timeout=60,
    )
    assert as_the_ui.json() == {"data": {"version": dg.__version__}}


def websocket_handshake(service: Service, origin: str) -> int:
    context = ssl.create_default_context(cafile=str(service.certificate))
    connection = http.client.HTTPSConnection("127.0.0.1", service.port, context=context, timeout=30)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    connection.request(
        "GET",
        "/graphql",
        headers={
            "Authorization": f"Basic {token}",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Protocol": "graphql-ws",
            "Origin": origin,
        },
    )
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.parametrize(
    "arguments",
    [
        "query=%7Bversion%7D",
        "qu%65ry=%7Bversion%7D",
        "query=&query=%7Bversion%7D",
        "QUERY=x",
        "variables=%7B%7D",
    ],
)
def test_graphql_by_get_with_any_argument_is_refused(service, arguments):
    answer = service.get(f"/graphql?{arguments}", auth=(USER, PASSWORD))
    assert answer.status_code == 403


def test_the_websocket_answers_the_ui_only(service):
    assert websocket_handshake(service, "https://evil.example") == 403
    assert websocket_handshake(service, "null") == 403
    assert websocket_handshake(service, service.url) == 101


def test_a_redirect_never_names_the_host_a_request_brings(service):
    for login in (None, (USER, PASSWORD)):
        answer = service.get("/docs", auth=login, headers={"Host": "evil.example"}, allow_redirects=False)
        assert (answer.status_code, answer.headers["Location"]) == (301, "/docs/")


def test_dagster_home_is_its_owners_alone(service):
    home = Path(service.env["DAGSTER_HOME"])
    readable = [
        str(path)
        for path in (home, *home.rglob("*"))
        if not path.is_symlink() and path.stat().st_mode & 0o077
    ]
    assert readable == []


@pytest.mark.browser
def test_in_the_browser_an_operator_launches_a_run_and_a_viewer_cannot(service, browser_as):
    job_page = f"{service.url}/locations/taskline/jobs/flower_capture"
    with dg.DagsterInstance.from_config(service.env["DAGSTER_HOME"]) as instance:
        before = {run.run_id for run in instance.get_runs()}

        viewer = browser_as(VIEWER, VIEWER_PASSWORD)
        viewer.goto(job_page, wait_until="networkidle")
        dismiss_first_visit_dialogs(viewer)
        launch = viewer.get_by_role("button", name="Materialize all")
        wait_until_shown(launch, viewer, "viewer_job_page")
        assert launch.is_disabled()
        viewer.screenshot(path=SCREENSHOTS / "viewer_job_page.png")

        operator = browser_as(USER, PASSWORD)
        operator.goto(job_page, wait_until="networkidle")
        dismiss_first_visit_dialogs(operator)
        operator.get_by_role("button", name="Materialize all").click()
        deadline = time.monotonic() + 120
        while not (launched := [run for run in instance.get_runs() if run.run_id not in before]):
            assert time.monotonic() < deadline, "the operator's click launched no run"
            time.sleep(1)
    [run] = launched
    assert run.job_name == "flower_capture"
    assert wait_for_status(service.client(), run.run_id) == "SUCCESS"
