"""The SQL files sent in query mode: matched by the SQL_PATHS glob patterns, each keyed by its identity.

A file's key is its path under the root of the pattern that matched it (the pattern's literal directory
prefix), written `<root as in the pattern>/<path under the root>`: `demo/sql/*.sql` gives
`demo/sql/orders.sql`. Relative patterns start at the project directory, not the working directory, so a
run from anywhere matches the same files under the same keys.
"""

import glob
import logging
import posixpath
import re
from pathlib import Path, PurePosixPath

logger = logging.getLogger(__name__)

# the repository root, where .dlt/ and dbt_project/ live (sources/sqlflow/sql_files.py -> ../..)
PROJECT_DIR = Path(__file__).resolve().parents[2]
GLOB_MAGIC = re.compile(r"[*?[]")


def literal_prefix(pattern: str) -> PurePosixPath:
    """The directories of `pattern` before its first component with a wildcard (`.` when there are none)."""
    *directories, _ = PurePosixPath(pattern).parts or ("",)
    literal: list[str] = []
    for part in directories:
        if GLOB_MAGIC.search(part):
            break
        literal.append(part)
    return PurePosixPath(*literal) if literal else PurePosixPath(".")


def file_key(pattern: str, match: str) -> str:
    """The key of a file `glob` matched for `pattern`: its pattern root (normalised) / its path under it."""
    prefix = literal_prefix(pattern)
    under_root = PurePosixPath(match).relative_to(prefix).as_posix()
    root = posixpath.normpath(prefix.as_posix())
    return under_root if root == "." else posixpath.join(root, under_root)


def match_sql_files(patterns: list[str]) -> dict[str, Path]:
    """Key -> file for every file the patterns match (`**` recurses), in a stable order. A file matched by
    several patterns keeps the key of the first."""
    matched: dict[str, Path] = {}
    seen: set[Path] = set()
    for pattern in patterns:
        found = {
            file_key(pattern, match): PROJECT_DIR / match
            for match in glob.glob(pattern, root_dir=PROJECT_DIR, recursive=True)
            if (PROJECT_DIR / match).is_file()
        }
        if not found:
            logger.warning(
                "SQLFlow: sql_paths pattern %r matches no file (relative patterns start at %s)",
                pattern,
                PROJECT_DIR,
            )
        for key, path in sorted(found.items()):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                matched[key] = path
    return matched
