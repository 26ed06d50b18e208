"""The warehouse file: one DUCKDB_PATH for dlt and dbt, and a clear error when another process holds it."""

import subprocess
import sys

import pytest

from sources.warehouse import WarehouseLockedError, ensure_writable, make_pipeline, publish_warehouse_path

HOLD_LOCK = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
)


def test_pipelines_write_the_file_named_by_duckdb_path(isolated_warehouse):
    pipeline = make_pipeline("flower")
    pipeline.run([{"id": 1}], table_name="probe")
    assert isolated_warehouse.exists()
    assert publish_warehouse_path() == isolated_warehouse


def test_a_locked_warehouse_names_the_file_and_the_holding_process(isolated_warehouse):
    make_pipeline("flower").run([{"id": 1}], table_name="probe")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(isolated_warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseLockedError) as error:
            ensure_writable()
    finally:
        holder.communicate("")
    assert str(isolated_warehouse) in str(error.value)
    assert f"process {holder.pid}" in str(error.value)
    assert "one writer" in str(error.value)
    ensure_writable()  # released: no error
