"""The dbt docs `make docs` and `make serve` show, refreshed by the run that builds the marts when stale."""

import hashlib
import json

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.dbt.project import dbt_project, raise_for_dbt
from orchestration.settings import docs_dir
from orchestration.warehouse.pipelines import query_rows

# the schemas dbt docs describe: what their catalog lists
DOCUMENTED_SCHEMAS = ("flower", "sqlflow", "staging", "intermediate", "marts", "seeds")
COLUMNS_SQL = f"""
    select table_schema, table_name, column_name, data_type from information_schema.columns
    where table_schema in {DOCUMENTED_SCHEMAS} order by 1, 2, 3
"""


def docs_fingerprint() -> str:
    """What the dbt docs show: the project (manifest, without its run stamps) and the tables' columns."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    manifest.pop("metadata", None)
    columns = query_rows(COLUMNS_SQL)
    return hashlib.sha256(json.dumps([manifest, columns], sort_keys=True, default=str).encode()).hexdigest()


def refresh_docs_when_stale(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> None:
    """Regenerate the docs (their catalog reads every table) only when the project or a table's columns changed."""
    docs = docs_dir()
    fingerprint, stored = docs_fingerprint(), docs / ".fingerprint"
    if (docs / "index.html").exists() and stored.exists() and stored.read_text() == fingerprint:
        context.log.info(f"dbt docs in {docs} are up to date (no model or column changed)")
        return
    raise_for_dbt(dbt.cli(["docs", "generate", "--static"], target_path=docs, raise_on_error=False).wait())
    stored.write_text(fingerprint)
    context.log.info(f"dbt docs refreshed in {docs} (make docs serves them)")
