"""dbt assets: staging → intermediate → marts, downstream of the dlt assets; dbt tests become asset checks."""

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.writer import writing_the_warehouse

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

# the dbt installed beside this interpreter: `.venv/bin/dagster` runs without .venv/bin on the PATH
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)
dbt_cli = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


def manifest_is_stale(project: DbtProject) -> bool:
    """True when the manifest is missing or older than any file dbt parses."""
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    parsed = [project.project_dir / "dbt_project.yml"]
    for folder in ("models", "seeds", "macros", "tests", "snapshots", "analyses"):
        parsed.extend((project.project_dir / folder).rglob("*"))
    return any(path.is_file() and path.stat().st_mtime > built for path in parsed)


# No manual dbt step on a fresh clone: `dbt parse` (no database connection) writes the manifest when needed
if manifest_is_stale(dbt_project):
    dbt_cli.cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


class LayerTranslator(DagsterDbtTranslator):
    """Groups dbt assets by layer (staging, intermediate, marts, seeds) so the graph reads left to right."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        fqn = dbt_resource_props["fqn"]
        return fqn[1] if len(fqn) > 2 else "marts"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    # a dlt resource can write several tables (job_lineage_objects, ...): their sources share its key
    dagster_dbt_translator=LayerTranslator(
        DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
    ),
)
def taskline_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    with writing_the_warehouse(context):
        yield from dbt.cli(["build"], context=context).stream()
