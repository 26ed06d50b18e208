"""The dbt unit tests (`unit_tests:` in the models' .yml files), as `make check` runs them: the raw tables
loaded through the real dlt pipelines, seeds and every model built empty (`dbt build --empty`: dbt reads the columns of a
unit test's inputs from the warehouse), then `dbt test --select test_type:unit`."""

import re

from tests.fixtures.dbt_cli import dbt
from tests.fixtures.marts_sources import load_warehouse


def test_every_dbt_unit_test_passes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load_warehouse(monkeypatch)
    dbt(
        "build",
        tmp_path,
        "--empty",
        "--quiet",
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
    )
    unit_tests = dbt("ls", tmp_path, "--quiet", "--resource-type", "unit_test").split()
    tested = dbt("test", tmp_path, "--select", "test_type:unit")
    [summary] = re.findall(r"Done\. (PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+)", tested)
    assert len(unit_tests) >= 16
    assert summary == f"PASS={len(unit_tests)} WARN=0 ERROR=0 SKIP=0"
