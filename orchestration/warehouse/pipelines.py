"""dlt pipelines into the warehouse, their working dirs (one process at a time), read-only queries, and the
load packages an interrupted run left."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from orchestration.warehouse.engine import is_postgres, warehouse_path
from orchestration.warehouse.errors import WarehouseUnavailableError
from orchestration.warehouse.postgres import postgres_credentials


def make_pipeline(name: str, dataset: str | None = None) -> dlt.Pipeline:
    """Pipeline `name` writing `dataset` (default: its name) into the warehouse; its working state (its cursor
    among them) in pipelines_dir()."""
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_postgres():
        try:
            credentials = postgres_credentials()
        except WarehouseUnavailableError:
            credentials = None  # a writing step reports the setting (check_postgres)
        # INSERT statements: dlt's other formats here need a driver we do not install (parquet over ADBC) or
        # cannot carry the tasks' list columns (csv of arrow pages)
        destination = dlt.destinations.postgres(
            credentials=credentials,
            supported_loader_file_formats=["insert_values"],
            loader_file_format_selector=None,
        )
    else:
        destination = dlt.destinations.duckdb(str(path))
    with using_working_dir(name):
        return dlt.pipeline(
            pipeline_name=name,
            destination=destination,
            dataset_name=dataset or name,
            pipelines_dir=str(pipelines_dir()),
        )


def reading_the_warehouse(dataset: str = "flower"):
    """A SQL client for read-only queries on the warehouse. The connection is `dataset`'s pipeline's: it starts
    in that schema (one its loads create), while the queries name every table's own."""
    return make_pipeline(dataset).sql_client()


def query_rows(sql: str, *args: Any, dataset: str = "flower") -> list[tuple]:
    """The rows of one read-only query on the warehouse (see reading_the_warehouse)."""
    with reading_the_warehouse(dataset) as client:
        return [tuple(row) for row in client.execute_sql(sql, *args)]


def query_records(sql: str, columns: tuple[str, ...], dataset: str = "flower") -> list[dict[str, Any]]:
    """query_rows as dicts by `columns`; none while a table the query reads is not built yet."""
    try:
        return [dict(zip(columns, row, strict=True)) for row in query_rows(sql, dataset=dataset)]
    except DatabaseUndefinedRelation:
        return []


def pipelines_dir() -> Path:
    """Where the pipelines keep their working state: the data folder (beside the DuckDB file), apart per engine."""
    return warehouse_path().parent / (".dlt_pipelines_postgres" if is_postgres() else ".dlt_pipelines")


def using_working_dir(name: str):
    """Pipeline `name`'s working dir for this process alone: a new pipeline empties it, and a load starts by
    dropping it, so a process creating the pipeline meanwhile (a check, a code server starting) would read
    or delete files under the other."""
    return taking_turns(pipelines_dir() / f".{name}.lock")


@contextmanager
def taking_turns(lock: Path) -> Iterator[None]:
    """One process at a time, across processes (an OS file lock, released when its holder ends)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def finish_pending_packages(pipeline: dlt.Pipeline) -> list[str]:
    """Load the packages an interrupted run left behind, before anything else; their load ids.

    dlt keeps a package extracted and normalized to the end, with the state (cursor) it carries, and resumes
    its load job by job: jobs DuckDB already committed are not loaded again, and the cursor commits with
    the rows. A run killed during extract leaves only a temporary folder dlt never lists (dagster-dlt's
    `drop()` removes it, and the cursor stays that of the last complete load).
    """
    if not pipeline.has_pending_data:
        return []
    pending = [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
    pipeline.normalize()
    pipeline.load()
    return pending
