"""The warehouse file: one DUCKDB_PATH for dlt and dbt, one clear sentence when another process holds it,
and what an interrupted run left in dlt's working dir."""

import sys
from pathlib import Path

import dlt
import duckdb
import pytest

from orchestration.warehouse.engine import ensure_writable, publish_warehouse_path
from orchestration.warehouse.errors import WarehouseLockedError, lock_conflict_message
from orchestration.warehouse.pipelines import finish_pending_packages, make_pipeline
from tests.fixtures.holders import duckdb_held_open, waiting_for_its_turn


def test_pipelines_write_the_file_named_by_duckdb_path(isolated_warehouse):
    pipeline = make_pipeline("flower")
    pipeline.run([{"id": 1}], table_name="probe")
    assert isolated_warehouse.exists()
    assert publish_warehouse_path() == isolated_warehouse


def test_loads_run_duckdb_in_bounded_memory(isolated_warehouse):
    """.dlt/config.toml caps a load's DuckDB (merges spill beyond it), so a load's peak does not grow with the
    number of tasks it merges (`make bench` measures it)."""
    with make_pipeline("flower").sql_client() as client:
        [(memory_limit, threads)] = client.execute_sql(
            "select current_setting('memory_limit'), current_setting('threads')"
        )
    assert (memory_limit, threads) == ("30.5 MiB", 1)


def test_processes_creating_the_same_pipeline_take_turns(isolated_warehouse):
    """A new dlt pipeline empties its working dir: the code servers of the webserver and the daemon creating it
    together on a fresh deployment deleted each other's state file. The second waits for the first."""
    lock = isolated_warehouse.parent / ".dlt_pipelines" / ".flower.lock"
    creator = waiting_for_its_turn(
        lock, "from orchestration.warehouse.pipelines import make_pipeline; make_pipeline('flower')"
    )
    output = creator.communicate(timeout=120)[0]
    assert creator.returncode == 0, output[-3000:]
    assert (lock.parent / "flower" / "state.json").exists()


def test_a_locked_warehouse_names_the_file_and_the_holding_process(isolated_warehouse):
    make_pipeline("flower").run([{"id": 1}], table_name="probe")
    with (
        duckdb_held_open(isolated_warehouse, read_only=True) as holder,
        pytest.raises(WarehouseLockedError) as error,
    ):
        ensure_writable()
    assert str(isolated_warehouse) in str(error.value)
    assert f"process {holder.pid}" in str(error.value)
    assert "one writer" in str(error.value)
    ensure_writable()  # released: no error


@pytest.mark.integration  # runs dbt build
def test_a_dbt_build_on_a_locked_warehouse_reads_as_the_one_sentence(isolated_warehouse):
    from dagster_dbt.errors import DagsterDbtCliRuntimeError

    from orchestration.dbt.project import dbt_cli

    make_pipeline("flower").run([{"id": 1}], table_name="probe")
    with duckdb_held_open(isolated_warehouse) as holder, pytest.raises(DagsterDbtCliRuntimeError) as error:
        dbt_cli.cli(["build", "--select", "stg_flower__tasks"]).wait()
    # dbt's output carries DuckDB's words, among its own
    assert lock_conflict_message(error.value) == (
        f"DuckDB warehouse {isolated_warehouse} is locked by process {holder.pid} "
        f"({Path(sys.executable).resolve()}): DuckDB allows one writer at a time. Close that process "
        "(a dbt docs server, a notebook, another load) and retry."
    )


def test_an_error_without_a_lock_conflict_has_no_sentence():
    assert lock_conflict_message(RuntimeError("Binder Error: table tasks does not exist")) is None


@dlt.resource(name="items", primary_key="id", write_disposition="merge")
def items_with_a_cursor():
    dlt.current.resource_state()["cursor"] = 2
    yield [{"id": 1}, {"id": 2}]


def test_a_package_left_by_an_interrupted_run_is_loaded_with_its_cursor(isolated_warehouse):
    interrupted = make_pipeline("probe")
    interrupted.extract(items_with_a_cursor())
    interrupted.normalize()  # then killed: extracted and normalized, never loaded
    [pending] = interrupted.list_normalized_load_packages()

    assert finish_pending_packages(make_pipeline("probe")) == [pending]

    assert finish_pending_packages(make_pipeline("probe")) == []
    with duckdb.connect(str(isolated_warehouse), read_only=True) as con:
        assert con.sql("select id from probe.items order by id").fetchall() == [(1,), (2,)]
        assert con.sql("select load_id, status from probe._dlt_loads").fetchall() == [(pending, 0)]
    restored = make_pipeline("probe")
    restored.drop()  # what dagster-dlt does before each run: the cursor comes back from the warehouse
    restored.sync_destination()
    assert restored.state["sources"]["probe"]["resources"]["items"]["cursor"] == 2
