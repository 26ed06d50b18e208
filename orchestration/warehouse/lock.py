"""One writer at a time: an OS file lock beside the DuckDB warehouse, held by every step that writes it.

DuckDB lets one process write a file and fails any other at once. Steps of different runs (a schedule, the
UI, a shell) therefore queue on this lock for their whole duration instead. The kernel releases it when
its holder exits, however it exits: a killed run blocks nothing. A child the step started (its dbt build)
can outlive a killed step with the file still open; it carries a mark in its environment, so the next
writer waits for it to end rather than failing.
"""

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration import settings
from orchestration.warehouse.errors import lock_holder_pid
from orchestration.warehouse.postgres import (
    check_postgres_connection,
    describe_postgres,
    postgres_credentials,
)

POLL_INTERVAL_S = 0.5
# set for the processes a writing step starts: who they write for
WRITER_ENV = "TASKLINE_WAREHOUSE_WRITER"


class WarehouseBusyError(RuntimeError):
    """Another writer held the warehouse lock for longer than the timeout."""


def lock_file(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


def lock_timeout_s() -> float:
    raw = settings.value(settings.WAREHOUSE_LOCK_TIMEOUT_S)
    try:
        timeout = float(raw)
    except ValueError:
        timeout = -1.0
    if timeout < 0:
        raise ValueError(
            f"{settings.WAREHOUSE_LOCK_TIMEOUT_S} must be a number of seconds (0 or more), got {raw!r}"
        )
    return timeout


@contextmanager
def exclusive_writer(
    warehouse: Path, holder: dict[str, Any], on_wait: Callable[[str], None], timeout_s: float | None = None
) -> Iterator[None]:
    """Hold the warehouse's writer lock for the block, waiting up to `timeout_s` for the current holder.

    `holder` (pid, run id, step, ...) is written into the lock file, so a waiter can say who it waits for;
    `on_wait` gets that sentence each time the holder changes.
    """
    timeout_s = lock_timeout_s() if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    path = lock_file(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(descriptor, path, warehouse, deadline, timeout_s, on_wait)
        _wait_for_leftover_writers(warehouse, deadline, timeout_s, on_wait)
        holder = {**holder, "since": _now()}
        _write_holder(descriptor, holder)
        os.environ[WRITER_ENV] = json.dumps(holder)
        try:
            yield
        finally:
            del os.environ[WRITER_ENV]
            os.ftruncate(descriptor, 0)  # a reader never sees a holder that has gone
    finally:
        os.close(descriptor)  # releases the lock


def _acquire(
    descriptor: int,
    path: Path,
    warehouse: Path,
    deadline: float,
    timeout_s: float,
    on_wait: Callable[[str], None],
) -> None:
    announced = None
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = describe_holder(path)
        if time.monotonic() >= deadline:
            raise WarehouseBusyError(
                f"Gave up after {timeout_s:.0f} s waiting to write DuckDB warehouse {warehouse}: {holder} "
                f"still writes it. Let that run finish or stop it, or raise {settings.WAREHOUSE_LOCK_TIMEOUT_S}."
            ) from None
        if holder != announced:
            on_wait(
                f"Waiting for DuckDB warehouse {warehouse}: {holder} is writing it (one writer at a time; "
                f"waiting up to {timeout_s:.0f} s, {settings.WAREHOUSE_LOCK_TIMEOUT_S})."
            )
            announced = holder
        time.sleep(POLL_INTERVAL_S)


def _wait_for_leftover_writers(
    warehouse: Path, deadline: float, timeout_s: float, on_wait: Callable[[str], None]
) -> None:
    """Wait while DuckDB is held by a process a killed writer started; any other holder is not ours."""
    announced = None
    while (pid := lock_holder_pid(warehouse)) is not None and (writer := leftover_writer(pid)):
        leftover = f"process {pid}, started by {writer} that was killed, still has it open"
        if time.monotonic() >= deadline:
            raise WarehouseBusyError(
                f"Gave up after {timeout_s:.0f} s waiting to write DuckDB warehouse {warehouse}: {leftover}. "
                f"Stop that process, or raise {settings.WAREHOUSE_LOCK_TIMEOUT_S}."
            )
        if pid != announced:
            on_wait(f"Waiting for DuckDB warehouse {warehouse}: {leftover}.")
            announced = pid
        time.sleep(POLL_INTERVAL_S)


def leftover_writer(pid: int) -> str | None:
    """Who process `pid` writes for, when a writing step started it (Linux /proc); else None."""
    if pid == os.getpid():
        return None
    try:
        environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    marks = [entry for entry in environment if entry.startswith(f"{WRITER_ENV}=".encode())]
    if not marks:
        return None
    return _describe(json.loads(marks[0].split(b"=", 1)[1]))


def describe_holder(path: Path) -> str:
    """Who holds the lock, from the lock file: 'process 123 (run 4f1c…, step flower, since …)'."""
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    return _describe(holder) if "pid" in holder else "another process"


def _describe(holder: dict[str, Any]) -> str:
    details = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in holder.items() if key != "pid")
    return f"process {holder['pid']} ({details})" if details else f"process {holder['pid']}"


def _write_holder(descriptor: int, holder: dict[str, Any]) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(holder).encode(), 0)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def postgres_turn(
    name: str, holder: dict[str, Any], on_wait: Callable[[str], None], timeout_s: float | None = None
) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock `taskline:<name>` for the block, waiting up to `timeout_s` for its
    holder. PostgreSQL lets many write at once, but not two dbt builds on the same tables (create table
    as, renames) nor two loads of one source (one cursor): those take turns on a lock of the server, seen
    from every machine, freed by the server when its holder's connection ends however it ends.
    `holder` is shown to waiters as the lock connection's application_name."""
    timeout_s = lock_timeout_s() if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    credentials = postgres_credentials()
    label = f"taskline {name} " + " ".join(f"{key}={value}" for key, value in holder.items())
    connection = check_postgres_connection(credentials, application_name=label[:63])
    connection.autocommit = True
    announced = None
    try:
        with connection.cursor() as cursor:
            while True:
                cursor.execute("select pg_try_advisory_lock(hashtextextended(%s, 0))", [f"taskline:{name}"])
                if cursor.fetchone()[0]:
                    break
                cursor.execute(
                    """select activity.application_name from pg_locks as locks
                       join pg_stat_activity as activity on activity.pid = locks.pid
                       where locks.locktype = 'advisory' and locks.granted
                         and (locks.classid::bigint << 32) | locks.objid::bigint = hashtextextended(%s, 0)""",
                    [f"taskline:{name}"],
                )
                other = (cursor.fetchone() or ["another process"])[0]
                where = describe_postgres(credentials)
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"Gave up after {timeout_s:.0f} s waiting for the {name} turn on PostgreSQL warehouse "
                        f"{where}: {other} still holds it. Let that run finish or stop it, or raise "
                        f"{settings.WAREHOUSE_LOCK_TIMEOUT_S}."
                    )
                if other != announced:
                    on_wait(
                        f"Waiting for the {name} turn on PostgreSQL warehouse {where}: {other} holds it "
                        f"(waiting up to {timeout_s:.0f} s, {settings.WAREHOUSE_LOCK_TIMEOUT_S})."
                    )
                    announced = other
                time.sleep(POLL_INTERVAL_S)
        yield
    finally:
        connection.close()  # the server frees the lock with the session
