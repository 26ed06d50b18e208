"""The dbt parse every dbt command starts from: dbt redoes in full one made for another warehouse, so each
warehouse keeps the last one its commands wrote, and its next command starts from that one."""

import pytest

from orchestration.dbt.project import dbt_cli, keep_parse, warehouse_parse

pytestmark = pytest.mark.integration  # two dbt commands


def dbt_parse(target) -> str:
    invocation = dbt_cli.cli(["parse"], target_path=target, raise_on_error=False).wait()
    assert invocation.is_successful(), (target / "dbt.log").read_text()[-3000:]
    keep_parse(invocation)
    return (target / "dbt.log").read_text()


def test_a_warehouse_next_dbt_command_starts_from_its_own_last_parse(
    isolated_warehouse, tmp_path, monkeypatch
):
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # dbt says it parsed partially only at debug
    first = dbt_parse(tmp_path / "first")  # the project's own parse was made for another warehouse's file
    assert warehouse_parse() == isolated_warehouse.parent / ".dbt_parse" / "duckdb" / "partial_parse.msgpack"
    assert warehouse_parse().exists()

    second = dbt_parse(tmp_path / "second")

    assert "Unable to do partial parsing" in first
    assert "Unable to do partial parsing" not in second and "Partial parsing enabled" in second
