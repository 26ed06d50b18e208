"""Which sources this deployment has: a source without any credential setting is left out (its assets, job
and schedule), so a team with Flower but no SQLFlow (or the other way round) runs only what it can."""

import logging
from dataclasses import dataclass

from dlt.common.configuration.specs import BaseConfiguration

from sources.flower.client import variable_prefix
from sources.flower.clusters import cluster_credentials, declared_names
from sources.flower.settings import flower_credentials
from sources.sqlflow.auth import LEGACY_USER_ID
from sources.sqlflow.settings import sqlflow_credentials

logger = logging.getLogger("taskline")


@dataclass(frozen=True)
class SourceSettings:
    name: str
    label: str
    present: tuple[str, ...]  # credential settings that are set
    missing: tuple[str, ...]  # settings still needed once any is set

    @property
    def configured(self) -> bool:
        return bool(self.present)

    def problem(self) -> str | None:
        """What to fix when the source is configured only in part, else None."""
        if not self.missing:
            return None
        return (
            f"{self.label} is configured ({', '.join(self.present)} set) but {', '.join(self.missing)} is missing: "
            "set it in the environment or under "
            f"[sources.{self.name}] in .dlt/secrets.toml, or unset the others to leave {self.label} out."
        )


CREDENTIALS = {"flower": ("username", "password", "token"), "sqlflow": ("user_id", "secret_key")}
# settings that configure a source without credentials
ENOUGH = {"flower": (), "sqlflow": ("ignore_user_token",)}


def _setting(source: str, key: str) -> str:
    return f"SOURCES__{source.upper()}__{key.upper()}"


def _settings(name: str, label: str, given: set[str], missing: set[str]) -> SourceSettings:
    return SourceSettings(
        name,
        label,
        tuple(_setting(name, key) for key in sorted(given)),
        tuple(_setting(name, key) for key in sorted(missing)),
    )


def _given(source: str, credentials: BaseConfiguration) -> set[str]:
    """The credential settings that are set, in the credentials dlt resolved for `source`."""
    return {key for key in CREDENTIALS[source] if getattr(credentials, key)}


def flower_configured() -> SourceSettings:
    """Basic auth needs both halves; a bearer token alone is enough. An estate's declared clusters configure
    Flower by themselves, each checked the same way."""
    clusters = declared_names()
    if not clusters:
        given = _given("flower", flower_credentials())
        return _settings("flower", "Flower", given, _missing_half(given))
    present, missing = [], []
    for cluster in clusters:
        given = _given("flower", cluster_credentials(cluster))
        present.append(f"{variable_prefix(cluster)}*")
        missing.extend(f"{variable_prefix(cluster)}{key.upper()}" for key in sorted(_missing_half(given)))
    return SourceSettings("flower", "Flower", tuple(present), tuple(missing))


def _missing_half(given: set[str]) -> set[str]:
    return set() if "token" in given or not given else {"username", "password"} - given


def sqlflow_configured() -> SourceSettings:
    """userId and secret key; the legacy on-premise user needs no secret, a server that ignores tokens
    (`ignore_user_token`) neither."""
    credentials = sqlflow_credentials()
    given = _given("sqlflow", credentials)
    if credentials.ignore_user_token:
        return _settings("sqlflow", "SQLFlow", {*given, "ignore_user_token"}, set())
    legacy = credentials.user_id == LEGACY_USER_ID
    missing = set() if not given or legacy else {"user_id", "secret_key"} - given
    return _settings("sqlflow", "SQLFlow", given, missing)


def configured_sources(announce: bool = True) -> dict[str, SourceSettings]:
    """Every source with its settings; with `announce`, logs one line for each source left out."""
    settings = {source.name: source for source in (flower_configured(), sqlflow_configured())}
    for source in settings.values():
        if announce and not source.configured:
            logger.warning(
                "%s is not configured (no %s): its assets, jobs and schedules are left out; marts built "
                "from it stay empty. Set its credentials to add it.",
                source.label,
                " / ".join(
                    _setting(source.name, key) for key in CREDENTIALS[source.name] + ENOUGH[source.name]
                ),
            )
    return settings
