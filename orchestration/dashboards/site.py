"""The dashboards' static site: the Evidence project in dashboards/ built in a working copy (the export beside
its source queries) and put in place whole, so `make serve` serves either the last good site or the new one,
never half of one. No Dagster here: the asset calls it."""

import fcntl
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration import settings

PROJECT = settings.ROOT / "dashboards"
# what a build copies of the project: what Evidence reads, not what it writes (.evidence, build)
PROJECT_FILES = (
    "pages",
    "sources",
    "components",
    "evidence.config.yaml",
    "evidence.settings.json",
    "package.json",
    "svelte.config.js",
)
EXPORT_IN_PROJECT = Path("sources") / "taskline" / "taskline.duckdb"
# where `evidence sources` writes each query's Parquet file, listed in its manifest (paths from the template)
TEMPLATE = Path(".evidence") / "template"
EVIDENCE_TYPES = {
    "string": pa.string(),
    "number": pa.float64(),
    "date": pa.timestamp("ms"),
    "boolean": pa.bool_(),
}
BUILD_TIMEOUT_S = 1800
# the task pages prerendered (the tasks failing most: the pages opened first); the others render in the
# browser. Each prerendered page adds about 0.2 s to a build.
PRERENDERED_TASKS = 50
ERROR_LINES = 20


class DashboardsError(Exception):
    """The dashboards could not be built; the message says why and what to do, Evidence's own error first."""


@dataclass(frozen=True)
class BuiltSite:
    path: Path
    seconds: float
    size_bytes: int
    prerendered_pages: int  # the others render in the browser


def node_missing() -> str | None:
    """The one sentence saying what to install when Node.js or the dashboards' packages are missing."""
    if shutil.which("node") is None:
        return (
            "The dashboards need Node.js 20 and npm, and this machine has no `node`: install them "
            "(e.g. `apt-get install nodejs npm`), then run `make setup`."
        )
    if not (PROJECT / "node_modules" / ".bin" / "evidence").exists():
        return f"The dashboards' packages are not installed in {PROJECT / 'node_modules'}: run `make setup`."
    return None


@contextmanager
def one_build_at_a_time(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def working_copy(work: Path, export_file: Path) -> None:
    """The project's pages, sources and config in `work`, its installed packages linked, the export inside."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, work / name)
        elif source.exists():
            shutil.copy2(source, work / name)
    (work / "node_modules").symlink_to(PROJECT / "node_modules")
    shutil.copy2(export_file, work / EXPORT_IN_PROJECT)
    (work / "prerender.json").write_text(json.dumps(prerendered_task_pages(export_file)))


def prerendered_task_pages(export_file: Path) -> list[str]:
    """The pages of the tasks failing most (dashboards/svelte.config.js prerenders them)."""
    with duckdb.connect(str(export_file), read_only=True) as connection:
        slugs = connection.execute(
            "select task_slug from tasks order by failures_7d desc, runs_7d desc, task_name limit ?",
            [PRERENDERED_TASKS],
        ).fetchall()
    return [f"/tasks/{task_slug}/" for (task_slug,) in slugs]


def evidence(work: Path, *command: str) -> None:
    """`evidence <command>` in the working copy; a failure raises with Evidence's own error lines first."""
    done = subprocess.run(
        [str(work / "node_modules" / ".bin" / "evidence"), *command],
        cwd=work,
        env=settings.environment(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise DashboardsError(
            f"Evidence's `{' '.join(command)}` failed (exit {done.returncode}): "
            f"{evidence_error(done.stdout + done.stderr)} "
            f"The last good site is still served. Fix the page or source named above in {PROJECT}."
        )


def write_empty_results(work: Path) -> None:
    """An empty Parquet file of its columns for each query that returned no rows. `evidence sources` writes no
    file for one, though its manifest lists it, and the build then fails reading it: an empty warehouse, or
    a table with nothing yet (no failure, no check evaluated), must still build."""
    manifest = json.loads((work / TEMPLATE / "static" / "data" / "manifest.json").read_text())
    for files in manifest["renderedFiles"].values():
        for name in files:
            parquet = work / TEMPLATE / name
            if parquet.exists() and parquet.stat().st_size:
                continue
            columns = json.loads(parquet.with_name(f"{parquet.stem}.schema.json").read_text())
            schema = pa.schema(
                [(column["name"], EVIDENCE_TYPES[column["evidenceType"]]) for column in columns]
            )
            pq.write_table(schema.empty_table(), parquet)


def evidence_error(output: str) -> str:
    """Evidence's own error: the lines that say error, else the output's end."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return " | ".join(errors[:ERROR_LINES] or lines[-ERROR_LINES:]) or "(no output)"


def put_in_place(built: Path, site: Path) -> None:
    """The new site where the old one was: renames only, so a reader sees one or the other."""
    site.parent.mkdir(parents=True, exist_ok=True)
    staged = site.with_name(site.name + ".new")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.move(built, staged)
    previous = site.with_name(site.name + ".old")
    shutil.rmtree(previous, ignore_errors=True)
    if site.exists():
        site.rename(previous)
    staged.rename(site)
    shutil.rmtree(previous, ignore_errors=True)


def size_of(path: Path) -> tuple[int, int]:
    files = [file for file in path.rglob("*") if file.is_file()]
    return sum(file.stat().st_size for file in files), sum(1 for file in files if file.name == "index.html")


def build_site(export_file: Path, directory: Path) -> BuiltSite:
    """Build the site from `export_file` in `directory`/work and serve it from `directory`/site."""
    missing = node_missing()
    if missing:
        raise DashboardsError(missing)
    started = time.monotonic()
    with one_build_at_a_time(directory):
        work = directory / "work"
        working_copy(work, export_file)
        # strict: a query that fails fails the build (by default Evidence carries on without its rows)
        evidence(work, "sources", "--strict")
        write_empty_results(work)
        evidence(work, "build:strict")
        site = directory / "site"
        put_in_place(work / "build", site)  # Evidence writes the site there, base path or not
        shutil.rmtree(work, ignore_errors=True)
    size, pages = size_of(site)
    return BuiltSite(site, time.monotonic() - started, size, pages)
