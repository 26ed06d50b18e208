"""The dbt command line as the tests and benchmarks run it: the project in dbt_project/, output under a workdir."""

import os
import subprocess
import sys
from pathlib import Path

from sources.warehouse import dbt_environment

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")


def dbt_command(verb: str, workdir: Path, *args: str, project_dir: Path = DBT_DIR) -> list[str]:
    """`dbt <verb>` on `project_dir`, writing target/ and logs/ under `workdir` (the warehouse is the one the
    environment chooses: DUCKDB_PATH, or PostgreSQL with TASKLINE_WAREHOUSE=postgres)."""
    return [
        str(DBT),
        "--no-use-colors",
        verb,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
        *args,
    ]


def dbt_env(warehouse: Path | None) -> dict[str, str]:
    """The environment for dbt: this one with the warehouse's settings for dbt, DUCKDB_PATH pointing at
    `warehouse` when given."""
    environment = {**os.environ, **dbt_environment()}
    return {**environment, "DUCKDB_PATH": str(warehouse)} if warehouse else environment


def run_dbt(
    verb: str, workdir: Path, *args: str, project_dir: Path = DBT_DIR, warehouse: Path | None = None
) -> subprocess.CompletedProcess:
    """`dbt <verb>` run to its end, output captured, on `warehouse` (default: DUCKDB_PATH)."""
    command = dbt_command(verb, workdir, *args, project_dir=project_dir)
    return subprocess.run(command, capture_output=True, text=True, env=dbt_env(warehouse))


def dbt(
    verb: str, workdir: Path, *args: str, project_dir: Path = DBT_DIR, warehouse: Path | None = None
) -> str:
    """Run `dbt <verb>` and return its output; fails the test with the output's tail when dbt fails."""
    result = run_dbt(verb, workdir, *args, project_dir=project_dir, warehouse=warehouse)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result.stdout
