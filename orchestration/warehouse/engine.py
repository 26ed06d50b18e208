"""The warehouse every pipeline writes and dbt builds on: DuckDB (a file, DUCKDB_PATH) by default, or
PostgreSQL (TASKLINE_WAREHOUSE=postgres) at dlt's own DESTINATION__POSTGRES__CREDENTIALS. dlt resolves
the setting once here; dbt gets the same connection through the environment of its process."""

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dlt
import duckdb
import psycopg2
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from orchestration import settings

ENGINES = ("duckdb", "postgres")
POSTGRES_FORM = (
    "postgresql://user:password@host:port/database, or the credentials under [destination.postgres] "
    "in .dlt/secrets.toml"
)
CONNECT_TIMEOUT_S = 10
# the schemas dbt writes (models by layer, the seed) and, per dlt dataset, the staging one a merge uses
DBT_SCHEMAS = ("staging", "intermediate", "marts", "seeds")

# DuckDB's words when another process holds the file (the same text reaches us through dlt and dbt)
LOCK_CONFLICT = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)"'
    r"(?:: Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\))?"
)


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file (DuckDB allows one writer)."""


class WarehouseUnavailableError(RuntimeError):
    """The warehouse setting is missing or wrong, or the warehouse refuses us; the message says what to fix."""


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


def postgres_credentials() -> PostgresCredentials:
    """dlt's PostgreSQL credentials (environment or .dlt/secrets.toml), resolved the way its destination does."""
    given = dlt.secrets.get("destination.postgres.credentials")
    if not given:
        raise WarehouseUnavailableError(
            f"{settings.WAREHOUSE}=postgres but the PostgreSQL warehouse has no connection: set {settings.POSTGRES_CREDENTIALS} "
            f"({POSTGRES_FORM})."
        )
    try:
        credentials = resolve_configuration(
            PostgresCredentials(), sections=("destination", "postgres"), explicit_value=given
        )
    except (ConfigurationException, ValueError):
        raise WarehouseUnavailableError(
            f"{settings.POSTGRES_CREDENTIALS} is not a PostgreSQL connection taskline can read: give it as {POSTGRES_FORM}."
        ) from None
    credentials.connect_timeout = CONNECT_TIMEOUT_S
    return credentials


def postgres_address(user: str | None, host: str | None, port: int | str, database: str | None) -> str:
    """A PostgreSQL database as a user recognises it, never with its password: postgresql://user@host:port/db."""
    return f"postgresql://{user}@{host}:{port}/{database}"


def describe_postgres(credentials: PostgresCredentials) -> str:
    return postgres_address(credentials.username, credentials.host, credentials.port, credentials.database)


def unusable_sentence(database: str, reason: str, password: str | None, fix: str) -> str:
    """The one sentence for a PostgreSQL database we cannot use: which, why (never its password), what to fix."""
    if password:
        reason = reason.replace(password, "***")
    return f"{database} cannot be used: {reason}. Fix {fix}."


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


def publish_warehouse_settings() -> str:
    """Put dbt_environment() into this process's environment, for the dbt processes it starts and the dbt
    adapter it runs itself; returns the warehouse in words. PostgreSQL settings that do not resolve are
    left for each writing step to report (check_postgres), so the code location still loads."""
    try:
        os.environ.update(dbt_environment())
    except WarehouseUnavailableError:
        return "PostgreSQL warehouse (not configured)"
    if is_postgres():
        return f"PostgreSQL warehouse {describe_postgres(postgres_credentials())}"
    return f"DuckDB warehouse {warehouse_path()}"


def make_pipeline(name: str) -> dlt.Pipeline:
    """A pipeline writing dataset `name` into the warehouse; its working state in pipelines_dir()."""
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_postgres():
        try:
            credentials = postgres_credentials()
        except WarehouseUnavailableError:
            credentials = None  # a writing step reports the setting (check_postgres)
        # INSERT statements: dlt's other formats here need a driver we do not install (parquet over ADBC) or
        # cannot carry the tasks' list columns (csv of arrow pages)
        destination = dlt.destinations.postgres(
            credentials=credentials,
            supported_loader_file_formats=["insert_values"],
            loader_file_format_selector=None,
        )
    else:
        destination = dlt.destinations.duckdb(str(path))
    with using_working_dir(name):
        return dlt.pipeline(
            pipeline_name=name,
            destination=destination,
            dataset_name=name,
            pipelines_dir=str(pipelines_dir()),
        )


def reading_the_warehouse(dataset: str = "flower"):
    """A SQL client for read-only queries on the warehouse. The connection is `dataset`'s pipeline's: it starts
    in that schema (one its loads create), while the queries name every table's own."""
    return make_pipeline(dataset).sql_client()


def query_rows(sql: str, *args: Any, dataset: str = "flower") -> list[tuple]:
    """The rows of one read-only query on the warehouse (see reading_the_warehouse)."""
    with reading_the_warehouse(dataset) as client:
        return [tuple(row) for row in client.execute_sql(sql, *args)]


def query_records(sql: str, columns: tuple[str, ...], dataset: str = "flower") -> list[dict[str, Any]]:
    """query_rows as dicts by `columns`; none while a table the query reads is not built yet."""
    try:
        return [dict(zip(columns, row, strict=True)) for row in query_rows(sql, dataset=dataset)]
    except DatabaseUndefinedRelation:
        return []


def pipelines_dir() -> Path:
    """Where the pipelines keep their working state: the data folder (beside the DuckDB file), apart per engine."""
    return warehouse_path().parent / (".dlt_pipelines_postgres" if is_postgres() else ".dlt_pipelines")


def using_working_dir(name: str):
    """Pipeline `name`'s working dir for this process alone: a new pipeline empties it, and a load starts by
    dropping it, so a process creating the pipeline meanwhile (a check, a code server starting) would read
    or delete files under the other."""
    return taking_turns(pipelines_dir() / f".{name}.lock")


@contextmanager
def taking_turns(lock: Path) -> Iterator[None]:
    """One process at a time, across processes (an OS file lock, released when its holder ends)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def unusable(credentials: PostgresCredentials, reason: str) -> WarehouseUnavailableError:
    where = f"PostgreSQL warehouse {describe_postgres(credentials)}"
    fix = f"{settings.POSTGRES_CREDENTIALS} ({POSTGRES_FORM})"
    return WarehouseUnavailableError(unusable_sentence(where, reason, credentials.password, fix))


def check_postgres_connection(credentials: PostgresCredentials, application_name: str = "taskline"):
    """An open psycopg2 connection to the warehouse, or the WarehouseUnavailableError saying why not."""
    try:
        return psycopg2.connect(
            host=credentials.host,
            port=credentials.port or 5432,
            user=credentials.username,
            password=credentials.password,
            dbname=credentials.database,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=application_name,
            **{
                option: value
                for option, value in (credentials.query or {}).items()
                if option.startswith("ssl")
            },
        )
    except psycopg2.Error as error:
        raise unusable(credentials, connection_problem(error)) from None


def check_postgres(schemas: tuple[str, ...] = ()) -> None:
    """Connect to the PostgreSQL warehouse and make sure we may create tables in `schemas` (or the schemas
    themselves); any problem is one WarehouseUnavailableError naming the warehouse and the setting."""
    credentials = postgres_credentials()
    connection = check_postgres_connection(credentials)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                """select schema_name from unnest(%s::text[]) as wanted(schema_name)
                   left join pg_namespace on nspname = schema_name
                   where not coalesce(has_schema_privilege(pg_namespace.oid, 'CREATE'),
                                      has_database_privilege(current_database(), 'CREATE'))
                   order by 1""",
                [list(schemas)],
            )
            refused = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    if refused:
        raise unusable(
            credentials,
            f"user {credentials.username} may not create tables in schema {', '.join(refused)} (no CREATE "
            f"privilege: grant it with GRANT CREATE ON DATABASE {credentials.database} TO {credentials.username}"
            ", or name a user that has it)",
        )


def causes(error: BaseException | None) -> Iterator[BaseException]:
    """`error` and the exceptions behind it (`raise ... from`, or raised while handling), outermost first."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def postgres_problem(error: BaseException) -> str | None:
    """The one sentence for a PostgreSQL connection or privilege error anywhere in `error` or its causes."""
    for cause in causes(error):
        if isinstance(cause, psycopg2.OperationalError | psycopg2.errors.InsufficientPrivilege):
            return str(unusable(postgres_credentials(), connection_problem(cause)))
    return None


def connection_problem(error: psycopg2.Error) -> str:
    """The server's or libpq's own words for a failed connection, on one line."""
    text = re.sub(r"^.*? failed:\s*", "", " ".join(str(error).split()))
    return re.sub(r"^(FATAL|ERROR):\s*", "", text) or type(error).__name__


def ensure_writable(path: Path | None = None) -> None:
    """Fail early and clearly when another process holds the warehouse lock."""
    conflict = _lock_conflict(path or warehouse_path())
    if conflict is not None:
        raise WarehouseLockedError(_sentence(conflict))


def lock_holder_pid(path: Path) -> int | None:
    """The process DuckDB names as holding `path` open; None when the file is free, absent or unnamed."""
    conflict = _lock_conflict(path)
    return int(conflict["pid"]) if conflict is not None and conflict["pid"] else None


def _lock_conflict(path: Path) -> re.Match | None:
    if not path.exists():
        return None
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as error:
        conflict = LOCK_CONFLICT.search(str(error))
        if conflict is None:
            raise
        return conflict
    return None


def lock_conflict_message(error: BaseException) -> str | None:
    """The one sentence for a DuckDB lock conflict anywhere in `error` or its causes, else None."""
    for cause in causes(error):
        if conflict := LOCK_CONFLICT.search(str(cause)):
            return _sentence(conflict)
    return None


def _sentence(conflict: re.Match) -> str:
    holder = f"process {conflict['pid']} ({conflict['program']})" if conflict["pid"] else "another process"
    return (
        f"DuckDB warehouse {conflict['file']} is locked by {holder}: DuckDB allows one writer at a time. "
        "Close that process (a dbt docs server, a notebook, another load) and retry."
    )


def finish_pending_packages(pipeline: dlt.Pipeline) -> list[str]:
    """Load the packages an interrupted run left behind, before anything else; their load ids.

    dlt keeps a package extracted and normalized to the end, with the state (cursor) it carries, and resumes
    its load job by job: jobs DuckDB already committed are not loaded again, and the cursor commits with
    the rows. A run killed during extract leaves only a temporary folder dlt never lists (dagster-dlt's
    `drop()` removes it, and the cursor stays that of the last complete load).
    """
    if not pipeline.has_pending_data:
        return []
    pending = [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
    pipeline.normalize()
    pipeline.load()
    return pending
