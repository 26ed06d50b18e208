"""The PostgreSQL warehouse: its credentials as dlt resolves them, a connection, and the one sentence that says
why it cannot be used (never with its password)."""

import re

import dlt
import psycopg2
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from orchestration import settings
from orchestration.warehouse.errors import WarehouseUnavailableError, causes

POSTGRES_FORM = (
    "postgresql://user:password@host:port/database, or the credentials under [destination.postgres] "
    "in .dlt/secrets.toml"
)
CONNECT_TIMEOUT_S = 10


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
