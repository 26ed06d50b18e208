"""The dashboards' static site: the Evidence project in dashboards/ built in a working copy (the export beside
its source queries) and put in place whole, so `make serve` serves either the last good site or the new one,
never half of one. Bundling the app, most of a build, depends on the project and not on the data: the app a
build bundles is kept beside the project (dashboards/.bundled/<fingerprint>), and the builds after it, on this
machine, render it again on their data (dashboards/rerender.js) until the project changes. No Dagster here: the
asset calls it."""

import fcntl
import hashlib
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
    "rerender.js",
)
# what else the bundled app is made of: the locked packages and their patches
BUNDLE_INPUTS = ("package-lock.json", "patches")
# the bundled apps, beside the project (git-ignored): a folder per project fingerprint
BUNDLED = ".bundled"
# Evidence's and Vite's variables, read when bundling
BUNDLE_ENVIRONMENT = ("EVIDENCE_", "VITE_")
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
    bundled: bool  # whether this build bundled the app (the project changed, or a first build here)


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


def project_fingerprint() -> str:
    """What the bundled app is made of: the project's files (not its data), its packages, Evidence's and Vite's
    variables."""
    digest = hashlib.sha256()
    for name in sorted(PROJECT_FILES + BUNDLE_INPUTS):
        top = PROJECT / name
        for file in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if file.is_file() and ".duckdb" not in file.name:
                digest.update(f"{file.relative_to(PROJECT)}\0".encode() + file.read_bytes())
    variables = sorted((k, v) for k, v in settings.environment().items() if k.startswith(BUNDLE_ENVIRONMENT))
    digest.update(repr(variables).encode())
    return digest.hexdigest()[:16]


@contextmanager
def bundled_app(fingerprint: str) -> Iterator[Path]:
    """The app bundled from this project, there or not yet: held so that two builds bundle it once."""
    bundles = PROJECT / BUNDLED
    bundles.mkdir(exist_ok=True)
    with open(bundles / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield bundles / fingerprint


def working_copy(work: Path, export_file: Path, bundle: Path) -> None:
    """The project's pages, sources and config in `work` (with the app bundled from them, if there is one),
    its installed packages linked, the export inside."""
    shutil.rmtree(work, ignore_errors=True)
    if bundle.is_dir():
        shutil.copytree(bundle, work, symlinks=True)
    else:
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


def keep_bundle(work: Path, bundle: Path) -> None:
    """The working copy of a build that bundled the app, without its data or its site, as `bundle`; the
    bundles of earlier projects removed."""
    data = {
        work / EXPORT_IN_PROJECT,
        work / TEMPLATE / EXPORT_IN_PROJECT,  # Evidence's copy of the project's sources
        work / "build",
        work / TEMPLATE / "build",
        work / TEMPLATE / "static" / "data",
        work / TEMPLATE / ".evidence-queries",
        work / TEMPLATE / ".svelte-kit" / "output" / "prerendered",
        work / TEMPLATE / ".svelte-kit" / "output" / "client" / "data",
    }
    staged = bundle.with_name(f".{bundle.name}.new")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(
        work,
        staged,
        symlinks=True,
        ignore=lambda folder, names: [name for name in names if Path(folder) / name in data],
    )
    for earlier in bundle.parent.iterdir():
        if earlier.is_dir() and not earlier.name.startswith("."):
            shutil.rmtree(earlier)
    staged.rename(bundle)


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
    node(
        [str(work / "node_modules" / ".bin" / "evidence"), *command],
        work,
        f"Evidence's `{' '.join(command)}`",
    )


def node(command: list[str], cwd: Path, what: str) -> None:
    """A Node command of the build; a failure raises with its own error lines first."""
    done = subprocess.run(
        command,
        cwd=cwd,
        env=settings.environment(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise DashboardsError(
            f"{what} failed (exit {done.returncode}): {evidence_error(done.stdout + done.stderr)} "
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


def query_sources(work: Path) -> None:
    # strict: a query that fails fails the build (by default Evidence carries on without its rows)
    evidence(work, "sources", "--strict")
    write_empty_results(work)


def build_site(export_file: Path, directory: Path) -> BuiltSite:
    """Build the site from `export_file` in `directory`/work and serve it from `directory`/site."""
    missing = node_missing()
    if missing:
        raise DashboardsError(missing)
    started = time.monotonic()
    with one_build_at_a_time(directory):
        work = directory / "work"
        with bundled_app(project_fingerprint()) as bundle:
            bundling = not bundle.is_dir()
            working_copy(work, export_file, bundle)
            if bundling:
                query_sources(work)
                evidence(work, "build:strict")
                keep_bundle(work, bundle)
        if not bundling:
            query_sources(work)
            node(["node", "../../rerender.js"], work / TEMPLATE, "Rendering the bundled app on the new data")
        site = directory / "site"
        put_in_place(work / TEMPLATE / "build", site)  # the site, base path or not
        shutil.rmtree(work, ignore_errors=True)
    size, pages = size_of(site)
    return BuiltSite(site, time.monotonic() - started, size, pages, bundling)
