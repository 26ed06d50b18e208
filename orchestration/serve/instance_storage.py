"""Dagster's instance database, when DAGSTER_HOME/dagster.yaml keeps runs, events and schedules in PostgreSQL
(`storage: postgres:`, dagster-postgres): what `make serve` checks before it starts anything, so a database
that does not answer, or refuses the user, is one line naming the setting to fix instead of two processes
retrying with tracebacks. The settings are read as the user wrote them; values given as `{env: NAME}` come
from the environment (where the password belongs), and no value is ever written anywhere.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import yaml

from orchestration import settings
from orchestration.warehouse.errors import causes
from orchestration.warehouse.postgres import (
    CONNECT_TIMEOUT_S,
    connection_problem,
    postgres_address,
    unusable_sentence,
)

# the postgres_db fields a problem points at, by the server's (or libpq's) words; else all of them
FIELDS_BY_PROBLEM = (
    (re.compile("password authentication failed"), ("password", "username")),
    (re.compile(r'role ".*" does not exist|permission denied'), ("username",)),
    (re.compile(r'database ".*" does not exist'), ("db_name",)),
    (
        re.compile("Connection refused|timeout expired|could not translate host name|No route to host"),
        ("hostname", "port"),
    ),
)
POSTGRES_DB_FIELDS = ("hostname", "port", "db_name", "username", "password")


class InstanceStorageError(Exception):
    """Dagster's instance database cannot be used; the message says which setting to fix."""


@dataclass
class PostgresStorage:
    """The `storage.postgres` section of a dagster.yaml, as written."""

    settings: dict[str, Any]
    config_file: Path

    def setting(self, *path: str) -> str:
        """How the user sets a value: the environment variable it reads, else its key in dagster.yaml."""
        value = self.settings
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, dict) and set(value) == {"env"}:
            return value["env"]
        return ".".join(("storage", "postgres", *path))

    def environment_variables(self) -> Iterator[tuple[str, str]]:
        """(dagster.yaml key, variable) for every value read from the environment."""
        yield from _env_references(self.settings, "storage.postgres")

    def resolved(self) -> dict[str, Any]:
        """The settings with the environment's values in place of `{env: NAME}`."""
        unset = [(key, name) for key, name in self.environment_variables() if settings.named(name) is None]
        if unset:
            key, name = unset[0]
            raise InstanceStorageError(
                f"Dagster's instance database ({key} in {self.config_file}) reads {name}, which is not set: "
                "set it in the environment of every process that uses the instance (the webserver, the daemon, "
                "the code server and its run workers)."
            )
        return _resolve(self.settings)

    def url(self) -> str:
        """The URL dagster-postgres hands SQLAlchemy (its scheme chooses the driver)."""
        from dagster_postgres.utils import pg_url_from_config  # dagster loads in seconds: only when needed

        return pg_url_from_config(self.resolved())

    def libpq_url(self) -> str:
        """The same database as libpq (psycopg2) reads it: without SQLAlchemy's `+driver`."""
        return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", self.url())

    def describe(self) -> str:
        """The database as a user recognises it, never with its password: postgresql://user@host:port/db."""
        parts = psycopg2.extensions.parse_dsn(self.libpq_url())
        return postgres_address(
            parts.get("user"), parts.get("host"), parts.get("port", 5432), parts.get("dbname")
        )

    def fields_to_fix(self, reason: str) -> list[str]:
        """The settings a connection problem points at, as the user sets them."""
        if "postgres_url" in self.settings:
            return [self.setting("postgres_url")]
        fields = next(
            (fields for words, fields in FIELDS_BY_PROBLEM if words.search(reason)), POSTGRES_DB_FIELDS
        )
        return [self.setting("postgres_db", field) for field in fields]

    def unusable(self, reason: str) -> InstanceStorageError:
        """The one sentence for an instance database we cannot use: where, why, the setting to fix."""
        password = psycopg2.extensions.parse_dsn(self.libpq_url()).get("password")
        fix = f"{' or '.join(self.fields_to_fix(reason))} (storage.postgres in {self.config_file})"
        where = f"Dagster's instance database {self.describe()}"
        return InstanceStorageError(unusable_sentence(where, reason, password, fix))


def _env_references(value: Any, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        if set(value) == {"env"}:
            yield key, value["env"]
            return
        for child, nested in value.items():
            yield from _env_references(nested, f"{key}.{child}")


def _resolve(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"env"}:
            return settings.named(value["env"])
        return {key: _resolve(nested) for key, nested in value.items()}
    return value


def postgres_storage(home: Path) -> PostgresStorage | None:
    """The instance's PostgreSQL storage settings, or None when it keeps them elsewhere (sqlite by default)."""
    config_file = home / "dagster.yaml"
    if not config_file.exists():
        return None
    storage = (yaml.safe_load(config_file.read_text()) or {}).get("storage")
    if not isinstance(storage, dict) or not isinstance(storage.get("postgres"), dict):
        return None
    return PostgresStorage(storage["postgres"], config_file)


def check_postgres_storage(storage: PostgresStorage) -> None:
    """Make sure the driver the URL names is installed and connect once (no retries) as the instance will;
    InstanceStorageError saying what to fix if we cannot. A cloud identity (`auth_provider`) has no
    password to check: dagster connects with it."""
    check_driver(storage)
    if "auth_provider" in storage.settings:
        return
    try:
        psycopg2.connect(storage.libpq_url(), connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg2.Error as error:
        raise storage.unusable(connection_problem(error)) from None


def check_driver(storage: PostgresStorage) -> None:
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which taskline does not install (psycopg2 is)."""
    from sqlalchemy.engine import make_url

    dialect = make_url(storage.url()).get_dialect()
    try:
        dialect.import_dbapi()
    except ImportError:
        scheme = storage.url().split("://")[0]
        raise InstanceStorageError(
            f"Dagster's instance database {storage.describe()} cannot be used: SQLAlchemy connects to {scheme}:// "
            f"with the {dialect.driver} driver, which is not installed. Set `scheme: postgresql+psycopg2` under "
            f"storage.postgres.postgres_db (or begin postgres_url with postgresql+psycopg2://) in "
            f"{storage.config_file}."
        ) from None


def database_problem(error: BaseException) -> psycopg2.Error | None:
    """The PostgreSQL error anywhere in `error`, its causes or what SQLAlchemy wrapped."""
    for cause in causes(error):
        if isinstance(cause, psycopg2.Error):
            return cause
        if isinstance(getattr(cause, "orig", None), psycopg2.Error):
            return cause.orig
    return None
