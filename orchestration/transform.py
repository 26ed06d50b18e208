"""dbt assets: staging → intermediate → marts, downstream of the dlt assets; dbt tests become asset checks.

The project builds in three steps, one per branch of the graph, so one source's outage holds back only its
own marts: the Flower models, the lineage models, and the models that join both (with the seed they use).
Each step adds row counts and column schemas to its materialisations; the last one also refreshes the dbt
docs that `make docs` serves, in the same process, while it holds the warehouse.
"""

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dbt.version import __version__ as dbt_core_version
from packaging import version

from orchestration.locations import DBT_PROJECT_DIR, DOCS_DIR, WITHOUT_UNIT_TESTS
from orchestration.warehouse import DBT_SCHEMAS, make_pipeline, publish_warehouse_settings, taking_turns
from orchestration.writer import writing_the_warehouse

# the dbt installed beside this interpreter: `.venv/bin/dagster` runs without .venv/bin on the PATH
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))

# a job builds a subset of a step's models: run only the tests whose models it builds (or their ancestors),
# not a test that reads a model of this step the job leaves out (dbt's default, eager, would run it)
os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")

# the schemas dbt docs describe: what their catalog lists
DOCUMENTED_SCHEMAS = ("flower", "sqlflow", "staging", "intermediate", "marts", "seeds")
COLUMNS_SQL = f"""
    select table_schema, table_name, column_name, data_type from information_schema.columns
    where table_schema in {DOCUMENTED_SCHEMAS} order by 1, 2, 3
"""


class TasklineDbtCli(DbtCliResource):
    """dagster-dbt's resource, knowing the version of the dbt pinned beside it instead of asking
    `dbt --version` in a new process (3 s of every run on two cores), and without the dbt adapter it opens in
    this process for its per-model metadata queries (1-2 s a step): `with_table_metadata` reads that instead."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_core_version)

    def _initialize_dbt_core_adapter(self, args):
        return None


# dbt, here and in the processes it starts, builds on the warehouse the settings choose
publish_warehouse_settings()
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR)
dbt_cli = TasklineDbtCli(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)

# what a dbt test checks, for the descriptions of the asset checks it becomes
TEST_PURPOSES = {
    "not_null": "fails for every row where `{column}` is null",
    "unique": "fails for every value of `{column}` that occurs more than once",
    "accepted_values": "fails for every value of `{column}` outside the accepted list",
    "relationships": "fails for every `{column}` without a match in the model it refers to",
    "accepted_range": "fails for every value of `{column}` outside its accepted range",
    "unique_combination_of_columns": "fails for every combination of the key columns that occurs twice",
}


class DbtFailure(dg.Failure):
    """A dbt command failed; the description starts with dbt's own error text."""


# dbt reuses its parse (partial_parse.msgpack, which dagster-dbt hands every invocation) only for the same
# profile; the warehouse it points at is part of it, so a parse made for another warehouse is redone here
# once instead of in full by every dbt step of every run
PARSED_FOR = dbt_project.project_dir / dbt_project.target_path / ".parsed_for_warehouse"


def parsed_for() -> str:
    return publish_warehouse_settings()


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
    is stale. One process at a time: code locations loading together (the webserver and the daemon, two jobs
    started at once) would otherwise read the manifest while another writes it."""
    with taking_turns(PARSED_FOR.with_name(".parse.lock")):
        if manifest_is_stale(dbt_project):
            raise_for_dbt(
                dbt_cli.cli(
                    ["parse", "--quiet"], target_path=dbt_project.target_path, raise_on_error=False
                ).wait()
            )
            PARSED_FOR.write_text(parsed_for())


class LayerTranslator(DagsterDbtTranslator):
    """Groups dbt assets by layer (staging, intermediate, marts, seeds) so the graph reads left to right, and
    says what each dbt test checks."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        fqn = dbt_resource_props["fqn"]
        return fqn[1] if len(fqn) > 2 else "marts"

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=test_description(manifest["nodes"][unique_id], asset_spec.key))


def test_description(test: Mapping[str, Any], asset_key: dg.AssetKey) -> str:
    """E.g. "dbt test `unique` on `task_id` of marts/fct_task_runs: fails for every value … (severity error)"."""
    metadata = test.get("test_metadata") or {}
    name = metadata.get("name") or test["name"]
    column = test.get("column_name") or (metadata.get("kwargs") or {}).get("column_name")
    purpose = TEST_PURPOSES.get(name, "fails for every row its query returns").format(column=column)
    on = f"`{column}` of {asset_key.to_user_string()}" if column else asset_key.to_user_string()
    severity = (test.get("config") or {}).get("severity", "error").lower()
    return f"dbt test `{name}` on {on}: {purpose} (severity {severity})."


TRANSLATOR = LayerTranslator(
    # a dlt resource can write several tables (job_lineage_objects, ...): their sources share its key
    DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
)


def build(context: dg.AssetExecutionContext, dbt: DbtCliResource, refresh_docs: bool = False) -> Iterator:
    """`dbt build` of this step's models, with row counts and column schemas on every materialisation. On
    PostgreSQL dbt builds take turns (two would collide replacing the same tables) while loads go on."""
    publish_warehouse_settings()  # as set now: a run may start long after the code location loaded
    with writing_the_warehouse(context, turn="dbt build", schemas=DBT_SCHEMAS):
        invocation = dbt.cli(["build", *WITHOUT_UNIT_TESTS], context=context, raise_on_error=False)
        yield from with_table_metadata(context, invocation)
        raise_for_dbt(invocation)
        if refresh_docs:
            refresh_docs_when_stale(context, dbt)


def with_table_metadata(context: dg.AssetExecutionContext, invocation: DbtCliInvocation) -> Iterator:
    """dbt's events, each built model's with its row count and column schema, read in two queries once dbt is
    done. dagster-dbt's fetch_row_counts/fetch_column_metadata query model by model (and parent by parent) and
    parse every model's SQL for column lineage: 13 s of a no-change `flower_load` at 10M tasks."""
    events = list(invocation.stream())  # DuckDB: the file is ours again only once dbt has exited
    built = [
        invocation.manifest["nodes"][event.metadata["unique_id"].text]
        for event in events
        if isinstance(event, dg.Output | dg.AssetMaterialization) and "unique_id" in event.metadata
    ]
    try:
        metadata = table_metadata(built) if built else {}
    except Exception as error:  # the build stands without its figures
        context.log.warning(f"row counts and column schemas not read from the warehouse: {error}")
        metadata = {}
    for event in events:
        unique_id = event.metadata.get("unique_id")
        if unique_id is not None and unique_id.text in metadata:
            event = event.with_metadata({**event.metadata, **metadata[unique_id.text]})
        yield event


def table_metadata(nodes: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per dbt node: its column schema (the warehouse's types, dbt's descriptions) and, unless it is a view
    (counting one runs its query), its row count."""
    names = [f"{node['schema']}.{node['alias']}" for node in nodes]
    tables = [node for node in nodes if node["config"]["materialized"] != "view"]
    counts_sql = " union all ".join(
        f"select {index}, count(*) from {node['relation_name']}" for index, node in enumerate(tables)
    )
    with make_pipeline("flower").sql_client() as client:
        columns = client.execute_sql(
            "select table_schema || '.' || table_name, column_name, data_type from information_schema.columns"
            f" where table_schema || '.' || table_name in ({', '.join(['%s'] * len(names))})"
            " order by table_schema, table_name, ordinal_position",
            *names,
        )
        counts = client.execute_sql(counts_sql) if tables else []
    metadata: dict[str, dict[str, Any]] = {node["unique_id"]: {} for node in nodes}
    for index, row_count in counts:
        metadata[tables[index]["unique_id"]]["dagster/row_count"] = dg.MetadataValue.int(row_count)
    for node, name in zip(nodes, names, strict=True):
        documented = node.get("columns", {})
        schema = [
            dg.TableColumn(
                column, data_type, description=documented.get(column, {}).get("description") or None
            )
            for relation, column, data_type in columns
            if relation == name
        ]
        if schema:
            metadata[node["unique_id"]]["dagster/column_schema"] = dg.MetadataValue.table_schema(
                dg.TableSchema(columns=schema)
            )
    return metadata


def docs_fingerprint() -> str:
    """What the dbt docs show: the project (manifest, without its run stamps) and the tables' columns."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    manifest.pop("metadata", None)
    with make_pipeline("flower").sql_client() as client:
        columns = client.execute_sql(COLUMNS_SQL)
    return hashlib.sha256(json.dumps([manifest, columns], sort_keys=True, default=str).encode()).hexdigest()


def refresh_docs_when_stale(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> None:
    """Regenerate the docs (their catalog reads every table) only when the project or a table's columns changed."""
    fingerprint, stored = docs_fingerprint(), DOCS_DIR / ".fingerprint"
    if (DOCS_DIR / "index.html").exists() and stored.exists() and stored.read_text() == fingerprint:
        context.log.info(f"dbt docs in {DOCS_DIR} are up to date (no model or column changed)")
        return
    raise_for_dbt(
        dbt.cli(["docs", "generate", "--static"], target_path=DOCS_DIR, raise_on_error=False).wait()
    )
    stored.write_text(fingerprint)
    context.log.info(f"dbt docs refreshed in {DOCS_DIR} (make docs serves them)")


def dbt_step(name: str, select: str, exclude: str | None = None, refresh_docs: bool = False):
    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        name=name,
        select=select,
        exclude=exclude,
        dagster_dbt_translator=TRANSLATOR,
    )
    def step(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        yield from build(context, dbt, refresh_docs)

    return step


@cache
def dbt_steps() -> tuple[dg.AssetsDefinition, ...]:
    """The three steps, read from a manifest made current first (so importing this module runs no dbt)."""
    prepare_manifest()
    return (
        dbt_step("flower_models", select="source:flower+", exclude="source:sqlflow+"),
        dbt_step("lineage_models", select="source:sqlflow+", exclude="source:flower+"),
        # last in every run that builds marts: the models that join both sources, then the docs of everything
        dbt_step(
            "joined_models", select="source:flower+,source:sqlflow+ resource_type:seed", refresh_docs=True
        ),
    )
