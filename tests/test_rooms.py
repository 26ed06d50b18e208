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
    "definitions": 5,
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
