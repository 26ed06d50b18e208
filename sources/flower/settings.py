"""The Flower settings read outside a load (the completeness check, the capture trigger), from the same
SOURCES__FLOWER__* / [sources.flower] as the source."""

from dataclasses import dataclass

import dlt
from dlt.common.configuration.inject import with_config

from sources.flower.client import FlowerApi
from sources.flower.source import DEFAULT_BASE_URL, DEFAULT_PAGE_SIZE

# Flower's own default for --max_tasks
DEFAULT_MAX_TASKS = 100_000
# a capture starts once Flower has seen this share of max_tasks in new tasks since the last one began: the
# rest of Flower's room is the time a capture has to start and read before unread tasks are evicted
DEFAULT_CAPTURE_AT_FILL = 0.25
# tasks of the completeness sweep per check: a full Flower is swept over a few checks, none holding Flower's
# single thread long (`make bench` times them)
DEFAULT_TASKS_PER_CHECK = 20_000


@dataclass(frozen=True)
class FlowerSettings:
    api: FlowerApi
    page_size: int
    tasks_per_check: int
    max_tasks: int
    capture_at_fill: float

    @property
    def capture_threshold(self) -> int:
        """New tasks since the last capture that start the next one."""
        return max(1, int(self.max_tasks * self.capture_at_fill))


@with_config(sections=("sources", "flower"))
def flower_settings(
    base_url: str = DEFAULT_BASE_URL,
    username: str | None = dlt.secrets.value,
    password: str | None = dlt.secrets.value,
    token: str | None = dlt.secrets.value,
    page_size: int = DEFAULT_PAGE_SIZE,
    request_timeout: float = 30,
    tasks_per_check: int = DEFAULT_TASKS_PER_CHECK,
    max_tasks: int = DEFAULT_MAX_TASKS,
    capture_at_fill: float = DEFAULT_CAPTURE_AT_FILL,
) -> FlowerSettings:
    for name, value, low in (
        ("page_size", page_size, 1),
        ("tasks_per_check", tasks_per_check, 1),
        ("max_tasks", max_tasks, 1),
    ):
        if value < low:
            raise ValueError(
                f"Flower {name} must be at least {low}, got {value} (SOURCES__FLOWER__{name.upper()})"
            )
    if not 0 < capture_at_fill < 1:
        raise ValueError(
            f"Flower capture_at_fill must be between 0 and 1 (a share of max_tasks), got {capture_at_fill} "
            "(SOURCES__FLOWER__CAPTURE_AT_FILL)"
        )
    api = FlowerApi(base_url, username, password, token, request_timeout)
    return FlowerSettings(api, page_size, tasks_per_check, max_tasks, capture_at_fill)
