"""One settings module: README's Configuration table names exactly the settings taskline reads, and no module
of orchestration/ but settings.py reads the environment."""

import ast
import re
from pathlib import Path

import pytest
from dlt.common.configuration.specs import BaseConfiguration
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.postgres.configuration import PostgresClientConfiguration

from orchestration import settings
from sources.flower.settings import FlowerSettings
from sources.sqlflow.settings import SQLFlowSettings

ROOT = Path(__file__).resolve().parents[1]
ORCHESTRATION = ROOT / "orchestration"
# the sources' typed dlt configs, and the sections dlt resolves them in
SOURCE_SPECS = {("sources", "flower"): FlowerSettings, ("sources", "sqlflow"): SQLFlowSettings}
# dlt's own warehouse settings README names: their spec, and the field of it the name ends with
DESTINATION_SPECS = {
    settings.POSTGRES_CREDENTIALS: (PostgresClientConfiguration, "credentials"),
    settings.DUCKDB_GLOBAL_CONFIG: (DuckDbCredentials, "global_config"),
}
# writing the environment (of this process, for dbt and the processes it starts) is not reading it
WRITES = {"update", "setdefault"}


def readme_settings() -> set[str]:
    """The environment variables of the second column of README's "## Configuration" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # after the header and |---|
    assert rows, "README's Configuration section has no table"
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[2])}


def dlt_setting(sections: tuple[str, ...], field: str) -> str:
    return "__".join((*sections, field)).upper()


def source_settings() -> set[str]:
    return {
        dlt_setting(sections, field)
        for sections, spec in SOURCE_SPECS.items()
        for field in spec.get_resolvable_fields()
    }


def test_readme_names_every_setting_taskline_reads_and_no_other():
    code = {setting.name for setting in settings.SETTINGS} | set(settings.DLT_SETTINGS) | source_settings()
    readme = readme_settings()
    assert not code - readme, f"README's Configuration table lacks {sorted(code - readme)}"
    assert not readme - code, (
        f"README's Configuration table names settings nobody reads: {sorted(readme - code)}"
    )


@pytest.mark.parametrize("name", settings.DLT_SETTINGS)
def test_the_warehouse_dlt_settings_are_dlts(name):
    spec, field = DESTINATION_SPECS[name]
    assert issubclass(spec, BaseConfiguration) and field in spec.get_resolvable_fields()
    assert name.endswith(f"__{field.upper()}")


def test_every_setting_is_listed_once_and_reads_its_default(monkeypatch):
    names = [setting.name for setting in settings.SETTINGS]
    assert len(names) == len(set(names))
    for setting in settings.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
        assert settings.read(setting.name) == setting.default
        monkeypatch.setenv(setting.name, "given")
        assert settings.read(setting.name) == "given"
        assert settings.read(setting.name, {}) == setting.default


def environment_reads(path: Path) -> list[str]:
    """Where the module at `path` reads the environment: os.environ other than written, os.getenv."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            reads += [
                f"line {node.lineno}: from os import {alias.name}"
                for alias in node.names
                if alias.name in ("environ", "getenv", "environb", "getenvb")
            ]
        if not (
            isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
        ):
            continue
        if node.attr in ("getenv", "getenvb", "environb"):
            reads.append(f"line {node.lineno}: os.{node.attr}")
        elif node.attr == "environ":
            parent = parents[node]
            written = (
                isinstance(parent, ast.Subscript) and isinstance(parent.ctx, (ast.Store, ast.Del))
            ) or (isinstance(parent, ast.Attribute) and parent.attr in WRITES)
            if not written:
                reads.append(f"line {node.lineno}: {ast.unparse(parent)}")
    return sorted(reads, key=lambda read: int(read.split(":")[0].removeprefix("line ")))


def test_only_settings_reads_the_environment():
    reads = {
        str(path.relative_to(ROOT)): found
        for path in sorted(ORCHESTRATION.rglob("*.py"))
        if path != ORCHESTRATION / "settings.py" and (found := environment_reads(path))
    }
    assert reads == {}


def test_the_check_sees_a_read(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import os\nos.environ['A'] = '1'\nos.environ.update(B='2')\ndel os.environ['A']\n"
        "x = os.environ.get('C')\ny = 'D' in os.environ\nz = os.getenv('E')\n"
    )
    assert [read.split(":")[0] for read in environment_reads(module)] == ["line 5", "line 6", "line 7"]
