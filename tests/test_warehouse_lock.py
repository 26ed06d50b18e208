"""The warehouse writer lock: writers take turns, a waiter names the holder, a killed holder holds nothing."""

import signal
import subprocess
import sys
import threading

import pytest

from sources.warehouse_lock import LOCK_TIMEOUT_ENV, WarehouseBusyError, exclusive_writer, lock_timeout_s

HOLD_WRITER_LOCK = """
import os, sys
from pathlib import Path
from sources.warehouse_lock import exclusive_writer
with exclusive_writer(Path(sys.argv[1]), {"pid": os.getpid(), "run": "run-a", "step": "flower"}, print):
    print("ready", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(isolated_warehouse):
    """Another process holding the writer lock of the test's warehouse until its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER_LOCK, str(isolated_warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    yield process
    if process.poll() is None:
        process.communicate("")


def test_a_second_writer_waits_for_the_first_and_names_it(holder, isolated_warehouse):
    said: list[str] = []
    waiting = threading.Event()
    done = threading.Event()

    def on_wait(message: str) -> None:
        said.append(message)
        waiting.set()

    def write() -> None:
        with exclusive_writer(isolated_warehouse, {"pid": 2, "run": "run-b", "step": "dbt"}, on_wait):
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert waiting.wait(60)
    assert not done.is_set()
    holder.communicate("")  # the first writer finishes
    writer.join(60)
    assert done.is_set()
    assert len(said) == 1
    assert said[0].startswith(
        f"Waiting for DuckDB warehouse {isolated_warehouse}: process {holder.pid} (run run-a, step flower, since "
    )
    assert LOCK_TIMEOUT_ENV in said[0]


def test_a_writer_gives_up_after_the_timeout_naming_the_holder(holder, isolated_warehouse):
    with (
        pytest.raises(WarehouseBusyError) as error,
        exclusive_writer(isolated_warehouse, {"pid": 2}, print, timeout_s=0),
    ):
        pass
    message = str(error.value)
    assert message.startswith(f"Gave up after 0 s waiting to write DuckDB warehouse {isolated_warehouse}: ")
    assert f"process {holder.pid} (run run-a, step flower, since " in message
    assert message.endswith(f"Let that run finish or stop it, or raise {LOCK_TIMEOUT_ENV}.")


def test_a_killed_writer_holds_nothing(holder, isolated_warehouse):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    said: list[str] = []
    with exclusive_writer(isolated_warehouse, {"pid": 2}, said.append, timeout_s=0):
        pass
    assert said == []


def test_the_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(LOCK_TIMEOUT_ENV, raising=False)
    assert lock_timeout_s() == 1800
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "90")
    assert lock_timeout_s() == 90
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match=f"{LOCK_TIMEOUT_ENV} must be a number of seconds"):
        lock_timeout_s()
