"""The DuckDB warehouse every pipeline writes: one setting (DUCKDB_PATH) shared with dbt."""

import os
import re
from pathlib import Path

import dlt
import duckdb

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file (DuckDB allows one writer)."""


def warehouse_path() -> Path:
    return Path(os.environ.get("DUCKDB_PATH", DEFAULT_WAREHOUSE)).expanduser().resolve()


def publish_warehouse_path() -> Path:
    """Pin DUCKDB_PATH to an absolute path so dbt, which runs inside dbt_project/, opens the same file."""
    path = warehouse_path()
    os.environ["DUCKDB_PATH"] = str(path)
    return path


def make_pipeline(name: str) -> dlt.Pipeline:
    """A pipeline writing dataset `name` into the warehouse; its working state sits beside the file."""
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(path)),
        dataset_name=name,
        pipelines_dir=str(path.parent / ".dlt_pipelines"),
    )


def ensure_writable(path: Path | None = None) -> None:
    """Fail early and clearly when another process holds the warehouse lock."""
    path = path or warehouse_path()
    if not path.exists():
        return
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        pid = re.search(r"PID (\d+)", str(error))
        holder = f"process {pid.group(1)}" if pid else "another process"
        raise WarehouseLockedError(
            f"DuckDB warehouse {path} is locked by {holder}: DuckDB allows one writer at a time. "
            "Close that process (a dbt docs server, a notebook, another load) and retry."
        ) from None
