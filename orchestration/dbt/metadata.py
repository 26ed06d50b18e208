"""Row counts and column schemas on every dbt materialisation, read from the warehouse in two queries; and on
the check of a failing dbt test that stores its failures, the rows it stored (a warn names what it warns of)."""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliInvocation

from orchestration.warehouse.pipelines import reading_the_warehouse

# rows of a failing test's stored failures shown on its check (the whole set stays in its table)
STORED_FAILURES_SHOWN = 20


def with_table_metadata(context: dg.AssetExecutionContext, invocation: DbtCliInvocation) -> Iterator:
    """dbt's events, each built model's with its row count and column schema, read in two queries once dbt is
    done. dagster-dbt's fetch_row_counts/fetch_column_metadata query model by model (and parent by parent) and
    parse every model's SQL for column lineage, which grew with the warehouse until it was most of a
    no-change `flower_load`."""
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
    try:
        failures = stored_failures(failing_tests_storing_rows(invocation.manifest, events))
    except Exception as error:  # the check stands without its rows
        context.log.warning(f"the failing tests' stored rows not read from the warehouse: {error}")
        failures = {}
    for event in events:
        unique_id = event.metadata.get("unique_id")
        if unique_id is not None and unique_id.text in metadata:
            event = event.with_metadata({**event.metadata, **metadata[unique_id.text]})
        if isinstance(event, dg.AssetCheckResult) and unique_id is not None and unique_id.text in failures:
            event = event._replace(metadata={**event.metadata, "stored_failures": failures[unique_id.text]})
        yield event


def failing_tests_storing_rows(manifest: Mapping[str, Any], events: list) -> list[Mapping[str, Any]]:
    """The dbt tests of `events` that failed or warned and keep their failing rows in a table."""
    tests = []
    for event in events:
        unique_id = event.metadata.get("unique_id")
        if not isinstance(event, dg.AssetCheckResult) or event.passed or unique_id is None:
            continue
        node = manifest["nodes"].get(unique_id.text, {})
        if node.get("config", {}).get("store_failures") and node.get("relation_name"):
            tests.append(node)
    return tests


def stored_failures(tests: list[Mapping[str, Any]]) -> dict[str, dg.MetadataValue]:
    """Per test, the first rows it stored, as a markdown table."""
    if not tests:
        return {}
    shown = {}
    with reading_the_warehouse() as client:
        for test in tests:
            sql = f"select * from {test['relation_name']} limit {STORED_FAILURES_SHOWN}"
            with client.execute_query(sql) as cursor:
                columns = [column[0] for column in cursor.description]
                rows = cursor.fetchall()
            shown[test["unique_id"]] = dg.MetadataValue.md(markdown_table(columns, rows))
    return shown


def markdown_table(columns: list[str], rows: list[tuple]) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = [columns, ["---"] * len(columns), *([cell(value) for value in row] for row in rows)]
    return "\n".join(f"| {' | '.join(line)} |" for line in lines)


def table_metadata(nodes: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per dbt node: its column schema (the warehouse's types, dbt's descriptions) and, unless it is a view
    (counting one runs its query), its row count."""
    names = [f"{node['schema']}.{node['alias']}" for node in nodes]
    tables = [node for node in nodes if node["config"]["materialized"] != "view"]
    counts_sql = " union all ".join(
        f"select {index}, count(*) from {node['relation_name']}" for index, node in enumerate(tables)
    )
    with reading_the_warehouse() as client:
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
