"""Changes of the warehouse contract, made in place by the first load that needs them: history Flower has
forgotten cannot be loaded again, so a warehouse is never rebuilt to change its shape.

Clusters: a warehouse built before taskline knew several Celery clusters has no `cluster` column in its raw
Flower tables. Each gains it, every row it holds becoming the default cluster's, in one transaction per table
(a load killed halfway leaves each table before or after, never a column of nulls).
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
