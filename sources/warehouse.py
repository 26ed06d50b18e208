"""The DuckDB warehouse every pipeline writes: one setting (DUCKDB_PATH) shared with dbt."""

import os
import re
from pathlib import Path

import dlt
import duckdb

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"

# DuckDB's words when another process holds the file (the same text reaches us through dlt and dbt)
LOCK_CONFLICT = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)"'
    r"(?:: Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\))?"
)


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
    conflict = _lock_conflict(path or warehouse_path())
    if conflict is not None:
        raise WarehouseLockedError(_sentence(conflict))


def lock_holder_pid(path: Path) -> int | None:
    """The process DuckDB names as holding `path` open; None when the file is free, absent or unnamed."""
    conflict = _lock_conflict(path)
    return int(conflict["pid"]) if conflict is not None and conflict["pid"] else None


def _lock_conflict(path: Path) -> re.Match | None:
    if not path.exists():
        return None
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as error:
        conflict = LOCK_CONFLICT.search(str(error))
        if conflict is None:
            raise
        return conflict
    return None


def lock_conflict_message(error: BaseException) -> str | None:
    """The one sentence for a DuckDB lock conflict anywhere in `error` or its causes, else None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        conflict = LOCK_CONFLICT.search(str(error))
        if conflict:
            return _sentence(conflict)
        error = error.__cause__ or error.__context__
    return None


def _sentence(conflict: re.Match) -> str:
    holder = f"process {conflict['pid']} ({conflict['program']})" if conflict["pid"] else "another process"
    return (
        f"DuckDB warehouse {conflict['file']} is locked by {holder}: DuckDB allows one writer at a time. "
        "Close that process (a dbt docs server, a notebook, another load) and retry."
    )


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
