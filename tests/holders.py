"""Other processes that hold the warehouse, as a notebook or another run would, for the lock tests."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# opens the DuckDB file named by argv[1] (read-only when argv[2] says so), says "ready", waits for stdin to close
HOLD_DUCKDB = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=sys.argv[2:] == ['read_only']); "
    "print('ready', flush=True); sys.stdin.read()"
)


def started(*argv: str) -> subprocess.Popen:
    """A Python process running `argv`, once it printed "ready"; it ends when its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "ready"
    return process


@contextmanager
def duckdb_held_open(path: Path, read_only: bool = False) -> Iterator[subprocess.Popen]:
    """Another process with the DuckDB file open for the block (a read-only one blocks writers too)."""
    holder = started("-c", HOLD_DUCKDB, str(path), *(["read_only"] if read_only else []))
    try:
        yield holder
    finally:
        holder.communicate("")
