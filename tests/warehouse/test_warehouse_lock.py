"""The warehouse writer lock: writers take turns, a waiter names the holder, a killed holder holds nothing,
and a child a killed writer left running with DuckDB open is waited for."""

import signal
import threading
from pathlib import Path

import pytest

from orchestration import settings
from orchestration.warehouse.engine import ensure_writable
from orchestration.warehouse.errors import WarehouseLockedError
from orchestration.warehouse.lock import WarehouseBusyError, exclusive_writer, lock_timeout_s
from orchestration.warehouse.pipelines import make_pipeline
from tests.fixtures.holders import HOLD_DUCKDB, duckdb_held_open, started

HOLD_WRITER_LOCK = """
import os, sys
from pathlib import Path
from orchestration.warehouse.lock import exclusive_writer
with exclusive_writer(Path(sys.argv[1]), {"pid": os.getpid(), "run": "run-a", "step": "flower"}, print):
    print("ready", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(isolated_warehouse):
    """Another process holding the writer lock of the test's warehouse until its stdin closes."""
    process = started("-c", HOLD_WRITER_LOCK, str(isolated_warehouse))
    yield process
    if process.poll() is None:
        process.communicate("")


class WaitingWriter:
    """A writer in a thread of this process: what it said while waiting, and whether it got through."""

    def __init__(self, warehouse: Path):
        self.said: list[str] = []
        self.waiting = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._write, args=(warehouse,))
        self.thread.start()
        assert self.waiting.wait(60)
        assert not self.done.is_set()

    def _write(self, warehouse: Path) -> None:
        with exclusive_writer(warehouse, {"pid": 2, "run": "run-b", "step": "dbt"}, self._on_wait):
            ensure_writable()
            self.done.set()

    def _on_wait(self, message: str) -> None:
        self.said.append(message)
        self.waiting.set()

    def gets_through(self) -> bool:
        self.thread.join(60)
        return self.done.is_set()


def test_a_second_writer_waits_for_the_first_and_names_it(holder, isolated_warehouse):
    writer = WaitingWriter(isolated_warehouse)
    holder.communicate("")  # the first writer finishes
    assert writer.gets_through()
    said = writer.said
    assert len(said) == 1
    assert said[0].startswith(
        f"Waiting for DuckDB warehouse {isolated_warehouse}: process {holder.pid} (run run-a, step flower, since "
    )
    assert settings.WAREHOUSE_LOCK_TIMEOUT_S in said[0]


def test_a_writer_gives_up_after_the_timeout_naming_the_holder(holder, isolated_warehouse):
    with (
        pytest.raises(WarehouseBusyError) as error,
        exclusive_writer(isolated_warehouse, {"pid": 2}, print, timeout_s=0),
    ):
        pass
    message = str(error.value)
    assert message.startswith(f"Gave up after 0 s waiting to write DuckDB warehouse {isolated_warehouse}: ")
    assert f"process {holder.pid} (run run-a, step flower, since " in message
    assert message.endswith(f"Let that run finish or stop it, or raise {settings.WAREHOUSE_LOCK_TIMEOUT_S}.")


def test_a_killed_writer_holds_nothing(holder, isolated_warehouse):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    said: list[str] = []
    with exclusive_writer(isolated_warehouse, {"pid": 2}, said.append, timeout_s=0):
        pass
    assert said == []


def test_the_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(settings.WAREHOUSE_LOCK_TIMEOUT_S, raising=False)
    assert lock_timeout_s() == 1800
    monkeypatch.setenv(settings.WAREHOUSE_LOCK_TIMEOUT_S, "90")
    assert lock_timeout_s() == 90
    monkeypatch.setenv(settings.WAREHOUSE_LOCK_TIMEOUT_S, "soon")
    with pytest.raises(ValueError, match=f"{settings.WAREHOUSE_LOCK_TIMEOUT_S} must be a number of seconds"):
        lock_timeout_s()


# a writing step whose child (as dbt is) opens DuckDB; both print "ready" and wait for stdin to close
WRITER_WITH_A_CHILD = """
import os, subprocess, sys
from pathlib import Path
from orchestration.warehouse.lock import exclusive_writer
with exclusive_writer(Path(sys.argv[1]), {"pid": os.getpid(), "run": "run-a", "step": "dbt"}, print):
    subprocess.Popen([sys.executable, "-c", sys.argv[2], sys.argv[1]])
    sys.stdin.read()
"""


def test_a_child_left_running_by_a_killed_writer_is_waited_for(isolated_warehouse):
    make_pipeline("flower").run([{"id": 1}], table_name="probe")
    writer = started("-c", WRITER_WITH_A_CHILD, str(isolated_warehouse), HOLD_DUCKDB)  # its child has DuckDB
    writer.kill()  # the step dies; its child lives on, with the file open
    writer.wait()
    next_writer = WaitingWriter(isolated_warehouse)
    writer.stdin.close()  # the child, which shares this stdin, ends
    assert next_writer.gets_through()
    said = next_writer.said
    assert said[0].startswith(f"Waiting for DuckDB warehouse {isolated_warehouse}: process ")
    assert f", started by process {writer.pid} (run run-a, step dbt, since " in said[0]
    assert said[0].endswith("that was killed, still has it open.")


def test_a_process_no_writer_started_is_not_waited_for(isolated_warehouse):
    make_pipeline("flower").run([{"id": 1}], table_name="probe")
    said: list[str] = []
    with (
        duckdb_held_open(isolated_warehouse) as notebook,
        pytest.raises(WarehouseLockedError, match=f"locked by process {notebook.pid} "),
        exclusive_writer(isolated_warehouse, {"pid": 2}, said.append),
    ):
        ensure_writable()
    assert said == []
