"""The read-only asset checks' turn: on DuckDB they wait on the writers' lock (DuckDB lets one process at a
time open the file) and are named while they hold it; nothing is reaped or checked for writing; trouble is
one sentence."""

import threading
from types import SimpleNamespace

import dagster as dg
import pytest

from orchestration.runs import writer
from orchestration.runs.writer import reading_in_turn
from orchestration.warehouse.lock import exclusive_writer


def check_context(step: str) -> SimpleNamespace:
    """What reading_in_turn uses of a check's op context; `said` holds what it logged."""
    said: list[str] = []
    return SimpleNamespace(run_id="run-c", op_handle=step, log=SimpleNamespace(info=said.append), said=said)


@pytest.fixture
def no_writing_steps(monkeypatch):
    """A reader that reaped dead runs or checked for writing would fail here."""

    def refused(*args, **kwargs):
        raise AssertionError("a reader does not do this")

    for name in ("reap_dead_runs", "ensure_writable", "check_postgres", "postgres_turn"):
        monkeypatch.setattr(writer, name, refused)


def test_a_check_waits_for_the_writer_and_names_it(isolated_warehouse, no_writing_steps):
    context, read = check_context("recent_task_events"), threading.Event()

    def check():
        with reading_in_turn(context):
            read.set()

    with exclusive_writer(isolated_warehouse, {"pid": 1, "run": "run-a", "step": "flower"}, print):
        reader = threading.Thread(target=check)
        reader.start()
        assert not read.wait(1.5)
    reader.join(60)

    assert read.is_set()
    assert context.said[0].startswith(
        f"Waiting for DuckDB warehouse {isolated_warehouse}: process 1 (run run-a, step flower, since "
    )


def test_a_writer_waits_for_a_check_reading(isolated_warehouse, no_writing_steps):
    said: list[str] = []
    writing = exclusive_writer(isolated_warehouse, {"pid": 2, "run": "run-b", "step": "dbt"}, said.append, 1)
    with (
        reading_in_turn(check_context("task_failure_alerts_open")),
        pytest.raises(writer.WarehouseBusyError),
        writing,
    ):
        pass
    assert "(run run-c, step task_failure_alerts_open, since " in said[0]


def test_on_postgres_a_check_takes_no_turn(monkeypatch, no_writing_steps):
    monkeypatch.setattr(writer, "is_postgres", lambda: True)
    monkeypatch.setattr(writer, "exclusive_writer", None)  # called, it would raise TypeError

    with reading_in_turn(check_context("query_lineage_failures")):
        read = True
    assert read


def test_warehouse_trouble_ends_the_check_as_one_sentence(isolated_warehouse, no_writing_steps):
    with pytest.raises(dg.Failure, match="^Gave up"), reading_in_turn(check_context("coverage")):
        raise writer.WarehouseBusyError("Gave up after 0 s waiting: process 3 still writes it.")
