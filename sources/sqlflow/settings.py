"""Every SQLFlow setting as one typed dlt config, from SOURCES__SQLFLOW__<NAME> or [sources.sqlflow]."""

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

SECTIONS = ("sources", "sqlflow")
DEFAULT_BASE_URL = "https://api.gudusoft.com/gspLive_backend"


@configspec
class SQLFlowCredentials(BaseConfiguration):
    """userId and secret key (the legacy on-premise user needs no secret), or none at all from a server set to
    `ignore_user_token` (a self-hosted SQLFlow 6.1.0.1+)."""

    user_id: TSecretStrValue | None = None
    secret_key: TSecretStrValue | None = None
    ignore_user_token: bool = False


@configspec
class SQLFlowSettings(SQLFlowCredentials):
    """The SQLFlow server and how sqlflow_source reads it."""

    base_url: str = DEFAULT_BASE_URL
    # glob patterns of SQL files sent in query mode
    sql_paths: list[str] | None = None
    dbvendor: str = "dbvpostgresql"
    show_relation_type: str = "fdd"
    ignore_record_set: bool = True
    request_timeout: float = 120.0


def sqlflow_credentials() -> SQLFlowCredentials:
    """Only the credentials and the no-credentials mode (nothing else is read, so nothing else can fail); an
    `ignore_user_token` that is no boolean counts as not set (the source then reports it)."""
    try:
        return resolve_configuration(SQLFlowCredentials(), sections=SECTIONS, accept_partial=True)
    except ConfigValueCannotBeCoercedException:
        return resolve_configuration(
            SQLFlowCredentials(),
            sections=SECTIONS,
            accept_partial=True,
            explicit_value={"ignore_user_token": False},
        )
