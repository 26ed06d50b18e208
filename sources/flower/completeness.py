"""Does the warehouse hold every task Flower holds, as new as Flower has it? The load proving itself.

After a load, every task Flower lists is compared with the warehouse by uuid and last-event time. A task
whose last event came after the load's walk began is left to the next load (counted, not failed).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.configuration.inject import with_config
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from sources.flower.client import FlowerApi
from sources.flower.source import DEFAULT_BASE_URL
from sources.flower.tasks import Listing, WalkReport, epoch_of

SAMPLES = 10
# stored times keep microseconds, Flower's floats a little more
TIME_TOLERANCE_S = 1e-3


@dataclass(frozen=True)
class HeldTask:
    uuid: str
    state: str | None
    last_event_at: float | None


@dataclass
class Completeness:
    """What the comparison found; `passed` when nothing Flower holds is missing or older in the warehouse."""

    held: int = 0
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    changed_since_load: int = 0

    @property
    def passed(self) -> bool:
        return not self.missing and not self.stale

    def summary(self) -> dict[str, Any]:
        return {
            "tasks_in_flower": self.held,
            "missing": len(self.missing),
            "older_in_warehouse": len(self.stale),
            "changed_since_the_load": self.changed_since_load,
            "missing_sample": self.missing[:SAMPLES],
            "older_in_warehouse_sample": self.stale[:SAMPLES],
        }


@with_config(sections=("sources", "flower"))
def flower_listing(
    base_url: str = DEFAULT_BASE_URL,
    username: str | None = dlt.secrets.value,
    password: str | None = dlt.secrets.value,
    token: str | None = dlt.secrets.value,
    page_size: int = 1000,
    request_timeout: float = 30,
) -> tuple[FlowerApi, int]:
    """The Flower the source reads, from the same settings (SOURCES__FLOWER__*), and its page size."""
    return FlowerApi(base_url, username, password, token, request_timeout), page_size


def held_tasks(api: FlowerApi, page_size: int) -> Iterator[HeldTask]:
    """Every task Flower holds now (at most its max_tasks), read in overlapping pages."""
    listing = Listing(api, page_size, WalkReport(started_at=0.0))
    for page in listing.pages({"sort_by": "-received"}, lambda task: False):
        for task in page:
            yield HeldTask(task["uuid"], task.get("state"), epoch_of(task, "timestamp"))


def compare(held: list[HeldTask], loaded: Mapping[str, float | None], walk_started_at: float) -> Completeness:
    """`loaded`: uuid → last-event time in the warehouse, for the held uuids found there."""
    result = Completeness(held=len({task.uuid for task in held}))
    for task in held:
        changed_later = task.last_event_at is not None and task.last_event_at >= walk_started_at
        if task.uuid not in loaded:
            if changed_later:
                result.changed_since_load += 1
            else:
                result.missing.append(task.uuid)
        elif _older(loaded[task.uuid], task.last_event_at):
            if changed_later:
                result.changed_since_load += 1
            else:
                result.stale.append(task.uuid)
    return result


def _older(stored: float | None, held: float | None) -> bool:
    if held is None:
        return False
    return stored is None or stored < held - TIME_TOLERANCE_S


def loaded_times(pipeline: dlt.Pipeline, uuids: list[str], chunk: int = 1000) -> dict[str, float | None]:
    """uuid → last-event time (epoch seconds) of the given tasks in the warehouse (those it has)."""
    found: dict[str, float | None] = {}
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("tasks")
            for start in range(0, len(uuids), chunk):
                listed = ", ".join(
                    "'" + uuid.replace("'", "''") + "'" for uuid in uuids[start : start + chunk]
                )
                sql = f'select uuid, extract(epoch from "timestamp") from {table} where uuid in ({listed})'
                found.update((uuid, _as_float(time)) for uuid, time in client.execute_sql(sql))
    except DatabaseUndefinedRelation:  # nothing loaded yet
        return {}
    return found


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def last_walk(pipeline: dlt.Pipeline) -> dict[str, Any] | None:
    """The tasks walk of the latest committed load (`walked_from` and its report), None before any."""
    state = pipeline.state.get("sources", {}).get("flower", {}).get("resources", {}).get("tasks", {})
    return state if "walked_from" in state else None
