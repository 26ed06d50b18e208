"""Other processes that hold the warehouse, as a notebook or another run would, for the lock tests."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sources.warehouse import taking_turns

ROOT = Path(__file__).resolve().parent.parent

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


def waiting_for_its_turn(lock: Path, code: str) -> subprocess.Popen:
    """Runs `code` in a new Python process while this one holds `lock` (as another process in the middle of
    the work would), and returns it once it is seen waiting for the lock; the test then releases it."""
    with taking_turns(lock):
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not waits_for(lock) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert waits_for(lock), f"it did not wait for its turn: {process.communicate()[0][-3000:]}"
    return process


def waits_for(path: Path) -> bool:
    """Whether a process is blocked on an flock of `path` (/proc/locks marks waiters with `->`)."""
    inode = f":{path.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())
