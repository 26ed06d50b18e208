"""Changes of the warehouse contract, made in place by the first load that needs them: history Flower has
forgotten cannot be loaded again, so a warehouse is never rebuilt to change its shape.

Clusters: a warehouse built before taskline knew several Celery clusters has no `cluster` column in its raw
Flower tables. Each gains it, every row it holds becoming the default cluster's, in one transaction per table
(a load killed halfway leaves each table before or after, never a column of nulls).

Its dbt tables likewise, those a build keeps rather than derives again: the alert history
(marts.task_failure_alert_history, full_refresh=false and on_schema_change='fail') gains `cluster` (its alerts
were the default cluster's) and `has_known_tables` (unknown for events before it: null), by the dbt step before
dbt runs. The incremental marts and intermediates derived from the raw tables need no such step: their SQL
changed, so their next build rebuilds them in full from the raw rows kept (dbt_project/macros/incremental/
build_state.sql), cluster included; the history keeps its rows, its event numbers and its open alerts.
"""

import dlt

from sources.flower.clusters import DEFAULT_CLUSTER

FLOWER_TABLES = ("tasks", "workers", "task_types", "queues_length", "task_info")


def tables_without_cluster(client, dataset: str) -> list[str]:
    """The raw Flower tables of `dataset` that exist without a `cluster` column."""
    listed = ", ".join(f"'{table}'" for table in FLOWER_TABLES)
    rows = client.execute_sql(
        f"""select table_name from information_schema.tables where table_schema = %s and table_name in ({listed})
            except
            select table_name from information_schema.columns where table_schema = %s and column_name = 'cluster'
            order by 1""",
        dataset,
        dataset,
    )
    return [row[0] for row in rows]


def name_the_default_cluster(pipeline: dlt.Pipeline) -> list[str]:
    """Give the raw Flower tables built before clusters their `cluster` column, their rows the default
    cluster's; the tables changed (none once done)."""
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            return []
        migrated = tables_without_cluster(client, client.dataset_name)
        for table in migrated:
            qualified = client.make_qualified_table_name(table)
            with client.begin_transaction():
                client.execute_sql(f"alter table {qualified} add column cluster varchar")
                client.execute_sql(f"update {qualified} set cluster = %s", DEFAULT_CLUSTER)
    return migrated


# the dbt tables no build derives again, and the columns each gained since: (name, type, value of the old rows)
KEPT_DBT_TABLES = {
    ("marts", "task_failure_alert_history"): (
        ("cluster", "varchar", DEFAULT_CLUSTER),
        ("has_known_tables", "boolean", None),
    ),
}


def existing_columns(client, schema: str, table: str) -> set[str]:
    """The columns of `schema`.`table`; none when it does not exist."""
    rows = client.execute_sql(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        schema,
        table,
    )
    return {row[0].lower() for row in rows}


def name_the_default_cluster_in_dbt_tables(client) -> list[str]:
    """Give the kept dbt tables built before clusters (KEPT_DBT_TABLES) their new columns, their rows the
    default cluster's, one transaction per table, through `client` (a dlt SQL client on the warehouse); the
    tables changed (none once done, or before their first build)."""
    migrated = []
    for (schema, table), columns in KEPT_DBT_TABLES.items():
        existing = existing_columns(client, schema, table)
        missing = [column for column in columns if existing and column[0] not in existing]
        if not missing:
            continue
        qualified = f"{client.escape_column_name(schema)}.{client.escape_column_name(table)}"
        with client.begin_transaction():
            for name, data_type, value in missing:
                client.execute_sql(f"alter table {qualified} add column {name} {data_type}")
                if value is not None:
                    client.execute_sql(f"update {qualified} set {name} = %s", value)
        migrated.append(f"{schema}.{table}")
    return migrated
