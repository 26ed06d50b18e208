"""The Flower dlt source: tasks (merged on uuid), worker and queue snapshots, and the task names seen."""

import os

import dlt
from dlt.sources import DltResource

from sources.flower.client import FlowerApi
from sources.flower.rows import task_columns
from sources.flower.snapshots import (
    QUEUE_LENGTH_COLUMNS,
    TASK_TYPE_COLUMNS,
    WORKER_COLUMNS,
    queue_lengths,
    seen_task_types,
    worker_snapshot,
)
from sources.flower.tasks import changed_tasks, task_details

DEFAULT_BASE_URL = "http://127.0.0.1:5555"
# Flower sorts every task it holds for each page and serialises each task of it: small pages repeat that
# sort many times, and larger pages gain little more (`make bench` compares them); a page's JSON, and more so
# its Python objects while it is turned into rows, is what a larger page costs in memory
DEFAULT_PAGE_SIZE = 10_000
# dlt adds its _dlt_load_id / _dlt_id columns to Arrow data only when its parquet normaliser is told to;
# that setting is global, so the source sets it (unless the environment already does), whatever the cwd.
ARROW_ROW_COLUMNS_SETTINGS = (
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID",
)


@dlt.source(name="flower", section="flower")
def flower_source(
    base_url: str = DEFAULT_BASE_URL,
    username: str | None = dlt.secrets.value,
    password: str | None = dlt.secrets.value,
    token: str | None = dlt.secrets.value,
    page_size: int = DEFAULT_PAGE_SIZE,
    lookback_minutes: float = 10,
    include_payloads: bool = True,
    with_task_info: bool = False,
    request_timeout: float = 30,
) -> list[DltResource]:
    """Flower's workers (snapshot), tasks (every task that may have changed, merged on uuid), queue lengths
    and the task names seen.

    Settings resolve from SOURCES__FLOWER__<NAME> or [sources.flower]; credentials are checked at the first
    request. A bearer `token`, when set, is sent instead of basic auth (for a proxy in front of Flower).
    The workers snapshot comes first: every task attempt its counters include is visible to the tasks walk
    that follows, which lets the coverage mart compare the two.
    """
    for setting in ARROW_ROW_COLUMNS_SETTINGS:
        os.environ.setdefault(setting, "true")
    if page_size < 1:
        raise ValueError(f"Flower page_size must be at least 1, got {page_size} (SOURCES__FLOWER__PAGE_SIZE)")
    api = FlowerApi(base_url, username, password, token, request_timeout)
    tasks = dlt.resource(
        changed_tasks(api, page_size, lookback_minutes, include_payloads),
        name="tasks",
        write_disposition="merge",
        primary_key="uuid",
        columns=task_columns(include_payloads),
    )
    resources = [
        dlt.resource(
            worker_snapshot(api), name="workers", write_disposition="append", columns=WORKER_COLUMNS
        ),
        tasks,
        dlt.resource(
            seen_task_types(api),
            name="task_types",
            write_disposition="merge",
            primary_key="name",
            columns=TASK_TYPE_COLUMNS,
        ),
        dlt.resource(
            queue_lengths(api), name="queues_length", write_disposition="append", columns=QUEUE_LENGTH_COLUMNS
        ),
    ]
    if with_task_info:
        info = dlt.transformer(
            task_details,
            name="task_info",
            write_disposition="merge",
            primary_key="uuid",
            columns=task_columns(include_payloads),
        )
        resources.append(tasks | info(api=api, include_payloads=include_payloads))
    return resources
