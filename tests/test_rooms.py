"""The rooms of orchestration/ import only down: each module imports its own room and the floors below it."""

import ast
from pathlib import Path

import pytest

from tests.fixtures.paths import ROOT

ORCHESTRATION = ROOT / "orchestration"
# orchestration/__init__.py's floors: a room imports its own modules and the rooms on lower floors
FLOORS = {
    "settings": 1,
    "keys": 1,
    "warehouse": 2,
    "runs": 3,
    "ingest": 4,
    "dbt": 4,
    "alerts": 4,
    "dashboards": 5,
    "definitions": 6,
    "serve": 5,
}


def room_of(module: str) -> str:
    return module.split(".")[1]


def imported_rooms(path: Path) -> set[str]:
    """The rooms of orchestration/ the module at `path` imports (at the top or inside functions)."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("orchestration"):
            names = (
                [f"{node.module}.{alias.name}" for alias in node.names]
                if node.module == "orchestration"
                else [node.module]
            )
            rooms |= {room_of(name) for name in names}
        elif isinstance(node, ast.Import):
            rooms |= {room_of(alias.name) for alias in node.names if alias.name.startswith("orchestration.")}
    return rooms


MODULES = sorted(path for path in ORCHESTRATION.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(ORCHESTRATION)))
def test_a_room_imports_only_itself_and_lower_floors(path):
    relative = path.relative_to(ORCHESTRATION)
    if relative.name == "__init__.py" and relative.parent == Path("."):
        return
    room = relative.parts[0].removesuffix(".py")
    upward = {other for other in imported_rooms(path) - {room} if FLOORS[other] >= FLOORS[room]}
    assert not upward, f"{relative} imports {sorted(upward)}, on its own floor or above"


def test_every_room_has_a_floor():
    rooms = {path.relative_to(ORCHESTRATION).parts[0].removesuffix(".py") for path in MODULES} - {"__init__"}
    assert rooms == set(FLOORS)


# ---- the tests mirror the rooms: shared helpers live in tests/fixtures/ (and tests/bench/'s helper modules)

TESTS = ROOT / "tests"


def imported_modules(path: Path) -> set[str]:
    """Every module the module at `path` imports by absolute name (at the top or inside functions)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
    return modules


def test_no_module_under_tests_imports_a_test_module_or_a_benchmark():
    """A helper two test modules share is in tests/fixtures/; a benchmark imports tests/bench/'s helper
    modules, never another benchmark's entry module."""
    entry_modules = []
    for path in sorted(TESTS.rglob("*.py")):
        if "recordings" in path.relative_to(TESTS).parts:
            continue
        entry_modules += [
            f"{path.relative_to(TESTS)} imports {module}"
            for module in sorted(imported_modules(path))
            if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith(("test_", "bench_"))
        ]
    assert entry_modules == []
