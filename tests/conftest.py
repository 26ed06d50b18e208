"""Shared pytest wiring: every test gets its own warehouse file and dlt working dir, and a tier marker."""

import os
import tempfile

import pytest

from orchestration import settings

# the tests model the demo shop: its task-to-table map, for dbt here and in every process a test starts
os.environ[settings.DEMO_SHOP_SETTING] = "true"
# CI runs as root: the `make serve`s the tests start accept that (test_serve_login checks the refusal)
os.environ[settings.ALLOW_ROOT] = "1"
# dbt's file log at info, not debug, in every dbt a test starts: the tests read dbt's events and errors, and the
# debug lines (every query dbt sends) cost a tenth of each build's CPU
os.environ["DBT_LOG_LEVEL_FILE"] = "info"
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
# the modules that run longest whatever their tier (`make test` lists the slowest tests): first of all
LONGEST_MODULES = (
    "tests.serve.test_http_management",
    "tests.alerts.test_operations_alerts",
    "tests.runs.test_dead_runs",
    "tests.alerts.test_failure_alerts",
    "tests.demo.test_end_to_end",
    "tests.dbt.test_incremental_marts",
    "tests.serve.test_scheduled_runs",
    "tests.ingest.test_capture",
    "tests.warehouse.test_postgres_orchestration",
    "tests.ingest.test_optional_sources",
    "tests.serve.test_postgres_instance",
    "tests.ingest.test_estate",
    "tests.dashboards.test_site",
)


def tier_of(item: pytest.Item) -> str:
    return next(tier for tier in TIERS if item.get_closest_marker(tier))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts nothing needs no marker: it is a unit test (`make check` runs those). Modules are
    ordered for `make test`'s workers (run_order)."""
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS[:-1]):
            item.add_marker(pytest.mark.unit)
    heaviest: dict[str, int] = {}
    for item in items:
        heaviest[item.module.__name__] = min(
            heaviest.get(item.module.__name__, len(TIERS)), TIERS.index(tier_of(item))
        )
    items.sort(key=lambda item: run_order(item.module.__name__, heaviest[item.module.__name__]))


def run_order(module: str, heaviest_tier: int) -> tuple[int, int]:
    """The longest modules first, in LONGEST_MODULES' order; then the others, the heaviest tiers first."""
    if module in LONGEST_MODULES:
        return (0, LONGEST_MODULES.index(module))
    return (1, heaviest_tier)
