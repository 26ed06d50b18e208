"""Shared pytest wiring: every test gets its own warehouse file and dlt working dir, and a tier marker."""

import os
import tempfile

import pytest

from orchestration import settings

# the tests model the demo shop: its task-to-table map, for dbt here and in every process a test starts
os.environ[settings.DEMO_SHOP_SETTING] = "true"
# CI runs as root: the `make serve`s the tests start accept that (test_serve_login checks the refusal)
os.environ[settings.ALLOW_ROOT] = "1"
# the dbt docs runs write go to this test process's own directory, not into the checkout another shares
os.environ[settings.DOCS_DIR_SETTING] = tempfile.mkdtemp(prefix="taskline-docs-")

pytest_plugins = [
    "tests.fixtures.flower_stack",
    "tests.fixtures.postgres",
    "tests.fixtures.recorded_flower",
    "tests.fixtures.sqlflow_loads",
    "tests.fixtures.sqlflow_standin",
]


@pytest.fixture(autouse=True)
def isolated_warehouse(tmp_path, monkeypatch):
    """DUCKDB_PATH under tmp_path, so no test touches data/ or another test's state."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    return path


# the tiers by what their tests start, most first: `make test`'s workers take whole modules in this order, so
# the long ones start early and the workers finish together
TIERS = ("end_to_end", "postgres", "integration", "unit")


def tier_of(item: pytest.Item) -> str:
    return next(tier for tier in TIERS if item.get_closest_marker(tier))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts nothing needs no marker: it is a unit test (`make check` runs those). Modules are
    ordered by the heaviest tier among their tests."""
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS[:-1]):
            item.add_marker(pytest.mark.unit)
    heaviest: dict[str, int] = {}
    for item in items:
        heaviest[item.module.__name__] = min(
            heaviest.get(item.module.__name__, len(TIERS)), TIERS.index(tier_of(item))
        )
    items.sort(key=lambda item: heaviest[item.module.__name__])
