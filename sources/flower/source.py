"""The Flower dlt source: tasks (merged on uuid), worker and queue snapshots, and the task names seen."""

import os
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from sources.flower.clusters import DEFAULT_CLUSTER
from sources.flower.rows import task_columns, typed_columns
from sources.flower.settings import FlowerSettings
from sources.flower.snapshots import (
    QUEUE_LENGTH_COLUMNS,
    TASK_TYPE_COLUMNS,
    WORKER_COLUMNS,
    queue_lengths,
    seen_task_types,
    worker_snapshot,
)
from sources.flower.tasks import changed_tasks, task_details

# dlt adds its _dlt_load_id / _dlt_id columns to Arrow data only when its parquet normaliser is told to;
# that setting is global, so the source sets it (unless the environment already does), whatever the cwd.
ARROW_ROW_COLUMNS_SETTINGS = (
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID",
)

# every row names the Celery cluster whose Flower it came from: a task id, task name or worker name is unique
# only within its cluster. Nullable so a warehouse from before clusters can gain it (warehouse migration).
CLUSTER_COLUMN = typed_columns(cluster="text")


def naming_the_cluster(cluster: str):
    """A map step giving each row (a dict, or an Arrow page) the `cluster` column."""

    def add(item: Any) -> Any:
        if isinstance(item, pa.Table):
            return item.append_column("cluster", pa.array([cluster] * item.num_rows, pa.string()))
        return {**item, "cluster": cluster}

    return add


@dlt.source(name="flower", section="flower", spec=FlowerSettings)
def flower_source(
    base_url: str = dlt.config.value,
    username: str | None = dlt.secrets.value,
    password: str | None = dlt.secrets.value,
    token: str | None = dlt.secrets.value,
    page_size: int = dlt.config.value,
    lookback_minutes: float = dlt.config.value,
    include_payloads: bool = dlt.config.value,
    with_task_info: bool = dlt.config.value,
    request_timeout: float = dlt.config.value,
    settings: FlowerSettings = dlt.config.value,
    cluster: str | None = None,
) -> list[DltResource]:
    """Flower's workers (snapshot), tasks (every task that may have changed, merged on uuid), queue lengths
    and the task names seen.

    dlt resolves `settings` (FlowerSettings: the types and defaults) from SOURCES__FLOWER__<NAME> or
    [sources.flower]; the parameters before it are only there so a caller can set one by name. Credentials are
    checked at the first request. A bearer `token`, when set, is sent instead of basic auth (for a proxy in front
    of Flower). `cluster`: the name an estate declared this Flower under (sources/flower/clusters.py), in every
    row and in its errors; None for the single Flower of [sources.flower], whose rows are the default cluster's.
    Rows are keyed within their cluster.
    The workers snapshot comes first: every task attempt its counters include is visible to the tasks walk
    that follows, which lets the coverage mart compare the two.
    """
    for setting in ARROW_ROW_COLUMNS_SETTINGS:
        os.environ.setdefault(setting, "true")
    settings.check_page_size()
    api = settings.api_for(cluster)
    cluster = cluster or DEFAULT_CLUSTER
    page_size, lookback_minutes = settings.page_size, settings.lookback_minutes
    include_payloads = settings.include_payloads
    tasks = dlt.resource(
        changed_tasks(api, page_size, lookback_minutes, include_payloads, cluster),
        name="tasks",
        write_disposition="merge",
        primary_key=("cluster", "uuid"),
        columns={**CLUSTER_COLUMN, **task_columns(include_payloads)},
    )
    resources = [
        dlt.resource(
            worker_snapshot(api),
            name="workers",
            write_disposition="append",
            columns={**CLUSTER_COLUMN, **WORKER_COLUMNS},
        ),
        tasks,
        dlt.resource(
            seen_task_types(api),
            name="task_types",
            write_disposition="merge",
            primary_key=("cluster", "name"),
            columns={**CLUSTER_COLUMN, **TASK_TYPE_COLUMNS},
        ),
        dlt.resource(
            queue_lengths(api),
            name="queues_length",
            write_disposition="append",
            columns={**CLUSTER_COLUMN, **QUEUE_LENGTH_COLUMNS},
        ),
    ]
    if settings.with_task_info:
        info = dlt.transformer(
            task_details,
            name="task_info",
            write_disposition="merge",
            primary_key=("cluster", "uuid"),
            columns={**CLUSTER_COLUMN, **task_columns(include_payloads)},
        )
        resources.append(tasks | info(api=api, include_payloads=include_payloads))
    for resource in resources:
        if resource.name != "tasks":  # the tasks walk names its cluster itself (it reads the warehouse by it)
            resource.add_map(naming_the_cluster(cluster))
    return resources
