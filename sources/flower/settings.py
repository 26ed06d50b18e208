"""Every Flower setting as one typed dlt config: what the source reads and what the checks outside a load (the
completeness check, the capture trigger) read, from SOURCES__FLOWER__<NAME> or [sources.flower]."""

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from sources.flower.client import FlowerApi, variable_prefix

SECTIONS = ("sources", "flower")
VARIABLE_PREFIX = variable_prefix(None)
DEFAULT_BASE_URL = "http://127.0.0.1:5555"
# Flower sorts every task it holds for each page and serialises each task of it: small pages repeat that
# sort many times, and larger pages gain little more (`make bench` compares them); a page's JSON, and more so
# its Python objects while it is turned into rows, is what a larger page costs in memory
DEFAULT_PAGE_SIZE = 10_000
# Flower's own default for --max_tasks
DEFAULT_MAX_TASKS = 100_000
# a capture starts once Flower has seen this share of max_tasks in new tasks since the last one began: the
# rest of Flower's room is the time a capture has to start and read before unread tasks are evicted
DEFAULT_CAPTURE_AT_FILL = 0.25
# tasks of the completeness sweep per check: a full Flower is swept over a few checks, none holding Flower's
# single thread long (`make bench` times them)
DEFAULT_TASKS_PER_CHECK = 20_000


@configspec
class FlowerCredentials(BaseConfiguration):
    """Basic auth (both halves), or a bearer `token` (sent instead, for a proxy in front of Flower)."""

    username: TSecretStrValue | None = None
    password: TSecretStrValue | None = None
    token: TSecretStrValue | None = None


@configspec
class FlowerSettings(FlowerCredentials):
    """The Flower server, how a load reads it (flower_source) and how the checks outside a load do."""

    base_url: str = DEFAULT_BASE_URL
    page_size: int = DEFAULT_PAGE_SIZE
    request_timeout: float = 30
    # a run re-reads the tasks received up to this long before the previous run began
    lookback_minutes: float = 10
    # args, kwargs and result: Python reprs that may hold personal data
    include_payloads: bool = True
    # one extra HTTP call per task
    with_task_info: bool = False
    tasks_per_check: int = DEFAULT_TASKS_PER_CHECK
    max_tasks: int = DEFAULT_MAX_TASKS
    capture_at_fill: float = DEFAULT_CAPTURE_AT_FILL

    @property
    def api(self) -> FlowerApi:
        """A client of this Flower (it connects at its first request)."""
        return self.api_for(None)

    def api_for(self, cluster: str | None) -> FlowerApi:
        """A client of this Flower as the estate's cluster `cluster` (None: the single Flower of before)."""
        return FlowerApi(
            self.base_url, self.username, self.password, self.token, self.request_timeout, cluster
        )

    @property
    def capture_threshold(self) -> int:
        """New tasks since the last capture that start the next one."""
        return max(1, int(self.max_tasks * self.capture_at_fill))

    def check_page_size(self) -> None:
        at_least(self.page_size, "page_size", 1, VARIABLE_PREFIX)

    def check(self, prefix: str = VARIABLE_PREFIX) -> None:
        """Every value in its range; the error names the setting to fix (its variable starts with `prefix`)."""
        for name, low in (("page_size", 1), ("tasks_per_check", 1), ("max_tasks", 1)):
            at_least(getattr(self, name), name, low, prefix)
        if not 0 < self.capture_at_fill < 1:
            raise ValueError(
                f"Flower capture_at_fill must be between 0 and 1 (a share of max_tasks), got {self.capture_at_fill} "
                f"({prefix}CAPTURE_AT_FILL)"
            )


def at_least(value: int, name: str, low: int, prefix: str) -> None:
    if value < low:
        raise ValueError(f"Flower {name} must be at least {low}, got {value} ({prefix}{name.upper()})")


def flower_settings() -> FlowerSettings:
    """The Flower settings as dlt resolves them for the source, checked."""
    settings = resolve_configuration(FlowerSettings(), sections=SECTIONS)
    settings.check()
    return settings


def flower_credentials() -> FlowerCredentials:
    """Only the credentials (nothing else is read, so nothing else can fail)."""
    return resolve_configuration(FlowerCredentials(), sections=SECTIONS, accept_partial=True)
