"""The dbt project and the dagster-dbt resource that runs it, with a manifest made current without a manual step."""

import os
import shutil
import sys
import tempfile
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from dbt.version import __version__ as dbt_core_version
from packaging import version

from orchestration import settings
from orchestration.settings import DBT_PROJECT_DIR
from orchestration.warehouse.engine import (
    is_postgres,
    publish_warehouse_settings,
    warehouse_database,
    warehouse_path,
)
from orchestration.warehouse.pipelines import taking_turns

# the dbt installed beside this interpreter: `.venv/bin/dagster` runs without .venv/bin on the PATH
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
# scheduled builds leave dbt unit tests to `make test`: they check the SQL, not the data
WITHOUT_UNIT_TESTS = ("--exclude-resource-type", "unit_test")


def build_vars() -> tuple[str, ...]:
    """`--vars` from TASKLINE_DBT_VARS: a deployment's thresholds (alert rules) over dbt_project.yml's."""
    given = settings.read(settings.DBT_VARS)
    return ("--vars", given) if given and given.strip() else ()


class TasklineDbtCli(DbtCliResource):
    """dagster-dbt's resource, knowing the version of the dbt pinned beside it instead of asking
    `dbt --version` in a new process (a new Python importing dbt, on every run), and without the dbt adapter
    it opens in this process for its per-model metadata queries (an adapter set up in every step):
    `with_table_metadata` reads that instead."""

    # both override dagster-dbt internals of the pinned 0.29.27: re-read them when upgrading
    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_core_version)

    def _initialize_dbt_core_adapter(self, args):
        return None

    def cli(self, args, *, context=None, target_path: Path | None = None, **options) -> DbtCliInvocation:
        """dbt starts from the last parse made for this warehouse (see `keep_parse`)."""
        target_path = target_path or self._get_unique_target_path(context=context)
        reuse_parse(target_path if target_path.is_absolute() else Path(self.project_dir) / target_path)
        return super().cli(args, context=context, target_path=target_path, **options)


# dbt redoes in full a parse (partial_parse.msgpack) made for another warehouse file or database; each warehouse
# keeps its own beside it, so every dbt step after its first starts from one that matches
def warehouse_parse() -> Path:
    return (
        warehouse_path().parent / ".dbt_parse" / ("postgres" if is_postgres() else "duckdb") / PARTIAL_PARSE
    )


def reuse_parse(target: Path) -> None:
    """This warehouse's last parse into `target` (dagster-dbt hands dbt the project's own otherwise)."""
    kept = warehouse_parse()
    if kept.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kept, target / PARTIAL_PARSE)


def keep_parse(invocation: DbtCliInvocation) -> None:
    """The parse a finished dbt command wrote, kept for this warehouse's next (replaced whole: steps of other
    runs may read it meanwhile)."""
    made = invocation.target_path / PARTIAL_PARSE
    if not made.exists():
        return
    kept = warehouse_parse()
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=kept.parent, delete=False) as copy:
        shutil.copy2(made, copy.name)
    os.replace(copy.name, kept)


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)
dbt_cli = TasklineDbtCli(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


class DbtFailure(dg.Failure):
    """A dbt command failed; the description starts with dbt's own error text."""


# the manifest holds relation names (database, schema, table) and which seed the demo-shop setting enables:
# a parse made for another database or setting is redone. A DuckDB file's folder is not part of it: every
# warehouse.duckdb shares one parse (dbt's own partial parse, which dagster-dbt hands every invocation, is
# redone by the first build on another file)
PARSED_FOR = dbt_project.project_dir / dbt_project.target_path / ".parsed_for_warehouse"
# what `dbt parse` writes that dagster-dbt reads: the manifest, and the parse every invocation starts from
PARTIAL_PARSE = "partial_parse.msgpack"
PARSE_ARTIFACTS = ("manifest.json", PARTIAL_PARSE)


def parsed_for() -> str:
    return f"{warehouse_database()}, {settings.DEMO_SHOP_SETTING}={settings.read(settings.DEMO_SHOP_SETTING)}"


def manifest_is_stale(project: DbtProject) -> bool:
    """True when the manifest is missing, older than any file dbt parses, or parsed for another warehouse."""
    if (
        not project.manifest_path.exists()
        or not PARSED_FOR.exists()
        or PARSED_FOR.read_text() != parsed_for()
    ):
        return True
    built = project.manifest_path.stat().st_mtime
    parsed = [project.project_dir / "dbt_project.yml"]
    for folder in ("models", "seeds", "macros", "tests", "snapshots", "analyses"):
        parsed.extend((project.project_dir / folder).rglob("*"))
    return any(path.is_file() and path.stat().st_mtime > built for path in parsed)


def raise_for_dbt(invocation: DbtCliInvocation) -> None:
    """dbt's own error text first, then the command; dagster-dbt's wrapping puts it last."""
    error = invocation.get_error()
    if error is None:
        return
    description = str(error.description or error)
    dbt_text = description.split("Errors parsed from dbt logs:", 1)[-1].strip()
    command = " ".join(invocation.process.args[1:]) if invocation.process else "dbt"
    raise DbtFailure(
        f"dbt failed: {dbt_text}\n\n(command: {command}; full log: {invocation.target_path}/dbt.log)"
    )


def prepare_manifest() -> None:
    """No manual dbt step on a fresh clone: `dbt parse` (no database connection) writes the manifest when it
    is stale. One process parses at a time, and its files replace the old ones whole: a code location loading
    meanwhile (the webserver and the daemon, two jobs started at once) reads the old manifest or the new one,
    never one half written."""
    publish_warehouse_settings()  # dbt parses for the warehouse the settings choose
    with taking_turns(PARSED_FOR.with_name(".parse.lock")):
        if manifest_is_stale(dbt_project):
            target = dbt_project.project_dir / dbt_project.target_path
            with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as parsed:
                if (target / PARTIAL_PARSE).exists():  # dbt's partial parse starts from it
                    shutil.copy2(target / PARTIAL_PARSE, parsed)
                raise_for_dbt(
                    dbt_cli.cli(["parse", "--quiet"], target_path=Path(parsed), raise_on_error=False).wait()
                )
                for artifact in PARSE_ARTIFACTS:
                    os.replace(Path(parsed) / artifact, target / artifact)
            PARSED_FOR.write_text(parsed_for())
