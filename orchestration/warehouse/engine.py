"""Which warehouse: DuckDB (a file, DUCKDB_PATH) by default, or PostgreSQL (TASKLINE_WAREHOUSE=postgres) at
dlt's own DESTINATION__POSTGRES__CREDENTIALS; and the environment dbt builds on it with (dbt gets the same
connection through the environment of its process)."""

import os
from contextlib import suppress
from pathlib import Path

from orchestration import settings
from orchestration.warehouse.errors import (
    WarehouseLockedError,
    WarehouseUnavailableError,
    duckdb_lock_conflict,
    lock_sentence,
)
from orchestration.warehouse.postgres import postgres_credentials

ENGINES = ("duckdb", "postgres")
# the schemas dbt writes (models by layer, the seed) and, per dlt dataset, the staging one a merge uses
DBT_SCHEMAS = ("staging", "intermediate", "marts", "seeds")


def warehouse_engine() -> str:
    """`duckdb` (the default) or `postgres`, from TASKLINE_WAREHOUSE."""
    given = settings.value(settings.WAREHOUSE)
    engine = given.strip().lower() or "duckdb"
    if engine not in ENGINES:
        raise WarehouseUnavailableError(
            f"{settings.WAREHOUSE}={given!r} names no warehouse taskline knows: set it to {' or '.join(ENGINES)}."
        )
    return engine


def is_postgres() -> bool:
    return warehouse_engine() == "postgres"


def warehouse_path() -> Path:
    return Path(settings.value(settings.DUCKDB_PATH)).expanduser().resolve()


def publish_warehouse_path() -> Path:
    """Pin DUCKDB_PATH to an absolute path so dbt, which runs inside dbt_project/, opens the same file."""
    path = warehouse_path()
    os.environ[settings.DUCKDB_PATH] = str(path)
    return path


def dbt_environment() -> dict[str, str]:
    """What dbt needs in its environment to build on this warehouse (profiles.yml reads it): the engine, and
    the DuckDB file as an absolute path (dbt runs inside dbt_project/) or PostgreSQL's connection. The
    password goes in DBT_ENV_SECRET_*, which dbt scrubs from its logs."""
    if not is_postgres():
        return {settings.WAREHOUSE: "duckdb", "DUCKDB_PATH": str(warehouse_path())}
    credentials = postgres_credentials()
    environment = {
        settings.WAREHOUSE: "postgres",
        "DBT_POSTGRES_HOST": credentials.host,
        "DBT_POSTGRES_PORT": str(credentials.port or 5432),
        "DBT_POSTGRES_USER": credentials.username,
        "DBT_ENV_SECRET_POSTGRES_PASSWORD": credentials.password or "",
        "DBT_POSTGRES_DBNAME": credentials.database,
        # every timestamp with time zone is read and truncated in UTC, whatever the server's zone (libpq)
        "PGTZ": "UTC",
    }
    for option, value in (credentials.query or {}).items():
        if option.startswith("ssl"):  # libpq reads sslmode & co. from PGSSLMODE, ...
            environment[f"PG{option.upper()}"] = str(value)
    return environment


def publish_warehouse_settings() -> None:
    """Put dbt_environment() into this process's environment, for the dbt processes it starts and the dbt
    adapter it runs itself. PostgreSQL settings that do not resolve are left for each writing step to report
    (check_postgres), so the code location still loads."""
    with suppress(WarehouseUnavailableError):
        os.environ.update(dbt_environment())


def warehouse_database() -> str:
    """The engine and the name of the database dbt's relation names carry (a DuckDB file's name without its
    folder): what a dbt parse depends on of the warehouse."""
    if not is_postgres():
        return f"DuckDB database {warehouse_path().stem}"
    try:
        return f"PostgreSQL database {postgres_credentials().database}"
    except WarehouseUnavailableError:
        return "PostgreSQL database (not configured)"


def ensure_writable() -> None:
    """Fail early and clearly when another process holds the DuckDB warehouse."""
    conflict = duckdb_lock_conflict(warehouse_path())
    if conflict is not None:
        raise WarehouseLockedError(lock_sentence(conflict))
