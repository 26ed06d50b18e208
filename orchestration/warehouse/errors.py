"""The errors that name warehouse trouble, and the one sentence for each: a DuckDB file another process holds,
a warehouse setting that is missing or wrong."""

import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

# DuckDB's words when another process holds the file (the same text reaches us through dlt and dbt)
LOCK_CONFLICT = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)"'
    r"(?:: Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\))?"
)


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file (DuckDB allows one writer)."""


class WarehouseUnavailableError(RuntimeError):
    """The warehouse setting is missing or wrong, or the warehouse refuses us; the message says what to fix."""


def causes(error: BaseException | None) -> Iterator[BaseException]:
    """`error` and the exceptions behind it (`raise ... from`, or raised while handling), outermost first."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def lock_holder_pid(path: Path) -> int | None:
    """The process DuckDB names as holding `path` open; None when the file is free, absent or unnamed."""
    conflict = duckdb_lock_conflict(path)
    return int(conflict["pid"]) if conflict is not None and conflict["pid"] else None


def duckdb_lock_conflict(path: Path) -> re.Match | None:
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
    for cause in causes(error):
        if conflict := LOCK_CONFLICT.search(str(cause)):
            return lock_sentence(conflict)
    return None


def lock_sentence(conflict: re.Match) -> str:
    holder = f"process {conflict['pid']} ({conflict['program']})" if conflict["pid"] else "another process"
    return (
        f"DuckDB warehouse {conflict['file']} is locked by {holder}: DuckDB allows one writer at a time. "
        "Close that process (a dbt docs server, a notebook, another load) and retry."
    )
