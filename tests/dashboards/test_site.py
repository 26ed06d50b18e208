"""The dashboards' site as Evidence really builds it (Node, the pinned packages) from an export: a working page
for any task name, "no data yet" from an empty warehouse, a failed build that keeps the last good site, the
builds after the first rendering its bundled app again on their own data, and `make dashboards` serving it. The
builds share the checkout's bundled app with the other modules' (on a fresh clone the first build bundles it).
The export from a real warehouse: tests/demo/test_end_to_end.py."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import requests

from demo.stack import free_port
from orchestration import settings
from orchestration.dashboards import site
from orchestration.dashboards.export import Health, export_tables, slug, write_export
from orchestration.dashboards.site import DashboardsError, build_site
from orchestration.keys import DASHBOARDS_FALLBACK_PAGE
from tests.fixtures.dashboard_exports import NOW, ODD_NAMES, warehouse_rows
from tests.fixtures.dashboards_project import copy_of_project
from tests.fixtures.paths import ROOT

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def export_of(rows: dict[str, list[tuple]], path: Path) -> Path:
    write_export(export_tables(warehouse_rows(**rows), Health([], []), NOW, "duckdb"), path)
    return path


def tasks_failing(names: list[str], failures: int) -> dict[str, list[tuple]]:
    """Each task run `failures` + 2 times, failing `failures` times, writing one table."""
    return {
        "runs_daily": [(NOW.date(), "shop", name, failures + 2, failures, 0.5, 1.0, 2.0) for name in names],
        "runs_hourly": [(NOW.replace(minute=0), "shop", name, failures + 2, failures) for name in names],
        "written_tables": [(name, "raw.odd/table?") for name in names],
    }


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the project, the one the builds use, for a test that changes it."""
    monkeypatch.setattr(site, "PROJECT", copy_of_project(tmp_path / "dashboards"))
    return site.PROJECT


@pytest.fixture(scope="module")
def odd_site(tmp_path_factory) -> Path:
    """A site whose tasks have every kind of awkward name, each failing once, writing one table."""
    directory = tmp_path_factory.mktemp("odd_site")
    build_site(export_of(tasks_failing(ODD_NAMES, 1), directory / "export.duckdb"), directory)
    return directory


@pytest.fixture(scope="module")
def served_site(odd_site):
    """`make dashboards` on the odd site."""
    port = free_port()
    env = {**settings.environment(), settings.DASHBOARDS_DIR_SETTING: str(odd_site)}
    command = [sys.executable, "-m", "orchestration.serve.docs_server", "dashboards", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert "Serving the dashboards" in server.stdout.readline()
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a loaded machine: the test is over either way
        server.kill()
        server.wait()


def test_make_dashboards_serves_the_site_under_its_base_path(served_site):
    assert requests.get(f"{served_site}/dashboards/", timeout=10).status_code == 200
    moved = requests.get(served_site, allow_redirects=False, timeout=10)
    assert (moved.status_code, moved.headers["Location"]) == (301, "/dashboards/")


def test_the_failing_tasks_pages_are_prerendered_and_any_other_page_renders_from_the_fallback(
    odd_site, served_site
):
    site_dir = odd_site / "site"
    assert all((site_dir / "tasks" / slug(name) / "index.html").is_file() for name in ODD_NAMES)
    table_page = f"tables/{slug('raw.odd/table?')}/"
    assert not (site_dir / table_page).exists()
    fallback = (site_dir / DASHBOARDS_FALLBACK_PAGE).read_text()
    for page in (table_page, "tasks/never-heard-of-00000000/"):
        answer = requests.get(f"{served_site}/dashboards/{page}", timeout=10)
        assert (answer.status_code, answer.text) == (200, fallback)
    missing = requests.get(f"{served_site}/dashboards/api/no/such/all-queries.json", timeout=10)
    assert missing.status_code == 404  # a page's script reads "not prerendered" from it


@pytest.mark.browser
def test_every_task_name_gets_a_working_page_titled_with_its_name(served_site):
    if CHROMIUM is None:
        pytest.skip(
            "no Chromium on this machine: .ci/run installs Debian's `chromium` package when run as root"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        for name in ODD_NAMES:
            page.goto(f"{served_site}/dashboards/tasks/{slug(name)}/", wait_until="networkidle")
            assert page.inner_text("h1") == name
            assert "Failures, 7 d" in page.inner_text("body")
        page.goto(f"{served_site}/dashboards/tables/{slug('raw.odd/table?')}/", wait_until="networkidle")
        assert page.inner_text("h1") == "raw.odd/table?"
        # any site may link to any address: one written to widen the page's SQL to every row names nothing
        for kind, missing in (("tasks", "No such task"), ("tables", "No such table")):
            page.goto(f"{served_site}/dashboards/{kind}/x'%20or%20'1'='1/", wait_until="networkidle")
            page.get_by_text(missing).wait_for()
        browser.close()
    assert not errors, errors


def test_an_empty_warehouse_builds_a_site_that_says_no_data_yet(tmp_path):
    built = build_site(export_of({}, tmp_path / "export.duckdb"), tmp_path)

    assert "No data yet" in (built.path / "index.html").read_text()
    assert built.prerendered_pages >= 1


def test_a_build_after_the_first_renders_the_bundled_app_again_on_its_own_data(odd_site, tmp_path):
    kept, new = ODD_NAMES[:2], "etl.brand_new"
    built = build_site(export_of(tasks_failing([*kept, new], 7), tmp_path / "export.duckdb"), tmp_path)

    assert not built.bundled
    bundles = [bundle.name for bundle in (site.PROJECT / site.BUNDLED).iterdir() if bundle.name[0] != "."]
    assert bundles == [site.project_fingerprint()]
    task_pages = {page.name for page in (built.path / "tasks").iterdir() if page.is_dir()}
    assert task_pages == {slug(name) for name in (*kept, new)} | {"none"}
    assert new in (built.path / "tasks" / slug(new) / "index.html").read_text()
    assert new not in (odd_site / "site" / "index.html").read_text()
    assert new in (built.path / "index.html").read_text()
    rows = duckdb.sql(f"select task_name, failures_7d from '{parquet_of(built.path, 'tasks')}' order by 1")
    assert rows.fetchall() == sorted([(name, 7.0) for name in (*kept, new)])


def parquet_of(site_dir: Path, query: str) -> Path:
    """Where the site's manifest says a source query's rows are."""
    manifest = json.loads((site_dir / "data" / "manifest.json").read_text())
    [file] = [file for file in manifest["renderedFiles"]["taskline"] if file.endswith(f"/{query}.parquet")]
    return site_dir / file.removeprefix("static/")


def test_the_app_is_bundled_again_when_the_project_changes_and_not_when_the_data_does(project):
    before = site.project_fingerprint()
    export_in_project = project / site.EXPORT_IN_PROJECT
    export_in_project.write_bytes(b"any export")
    page = project / "pages" / "index.md"
    try:
        assert site.project_fingerprint() == before
        page.write_text(page.read_text() + "\n")
        assert site.project_fingerprint() != before
    finally:
        export_in_project.unlink()
        page.write_text(page.read_text()[:-1])


def test_a_failed_build_fails_with_evidences_error_and_keeps_the_last_good_site(odd_site, project):
    (project / "sources" / "taskline" / "tasks.sql").write_text("select * from no_such_table\n")
    served = (odd_site / "site" / "index.html").read_bytes()

    with pytest.raises(DashboardsError) as failed:
        build_site(odd_site / "export.duckdb", odd_site)

    message = str(failed.value)
    assert message.startswith("Evidence's `sources --strict` failed")
    assert "no_such_table" in message and "The last good site is still served" in message
    assert (odd_site / "site" / "index.html").read_bytes() == served
