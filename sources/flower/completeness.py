"""Does the warehouse hold every task Flower holds, as new as Flower has it? The load proving itself.

Each check compares tasks Flower holds with the warehouse by uuid and last-event time, without re-reading a
full Flower every time (reading all it holds takes Flower's single thread long, even in large pages):
- the tasks new to the load: not received yet, or received since the previous walk began (few when little
  is new; the look-back's tasks were new to the previous check);
- the next `tasks_per_check` tasks of Flower's whole list (newest received first), from where the previous
  check stopped, wrapping at the end: a sweep that covers a full Flower every ceil(held / tasks_per_check)
  checks, and all of a Flower that holds no more than that at every check;
- the tasks the previous check found missing or older, asked for one by one, so a check that found a loss
  stays failed until a load brings them (or Flower forgets them).
New tasks only push the list down (the sweep then reads a few twice), so the sweep misses none of them. A
task whose last event came after the load's walk began is left to the next load (counted, not failed).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt

from sources.flower.client import FlowerApi
from sources.flower.loaded import TIME_TOLERANCE_S
from sources.flower.tasks import UNRECEIVED_PROBE, Listing, WalkReport, before, epoch_of, has_received

SAMPLES = 10


@dataclass(frozen=True)
class HeldTask:
    uuid: str
    state: str | None
    last_event_at: float | None


@dataclass
class Completeness:
    """What the comparison found; `passed` when nothing Flower holds is missing or older in the warehouse."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    changed_since_load: int = 0

    @property
    def passed(self) -> bool:
        return not self.missing and not self.stale

    def summary(self) -> dict[str, Any]:
        return {
            "tasks_checked": self.checked,
            "missing": len(self.missing),
            "older_in_warehouse": len(self.stale),
            "changed_since_the_load": self.changed_since_load,
            "missing_sample": self.missing[:SAMPLES],
            "older_in_warehouse_sample": self.stale[:SAMPLES],
        }


@dataclass
class Sweep:
    """Where the sweep through Flower's list stands: the offset the next check starts at, and whether this
    check reached the end of the list (then the next one starts again at the top)."""

    next_offset: int = 0
    wrapped: bool = False


class CheckReader:
    """Reads the tasks one check compares (module docstring), each once, the latest reading kept."""

    def __init__(self, api: FlowerApi, page_size: int, tasks_per_check: int):
        self.api = api
        self.tasks_per_check = tasks_per_check
        self.listing = Listing(api, page_size, WalkReport(started_at=0.0))

    def tasks(self, line: float | None, sweep_from: int, recheck: list[str]) -> tuple[list[HeldTask], Sweep]:
        """`line`: the tasks received since are read first (None: all); `recheck`: uuids asked for again."""
        held: dict[str, HeldTask] = {}
        _keep(held, self.listing.pages({"sort_by": "received"}, has_received, UNRECEIVED_PROBE))
        head = {"sort_by": "-received"}
        _keep(held, self.listing.pages(head, before("received", line), self.listing.head_page))
        if self.listing.reached_end:  # the walk's part was all of it (a first load, a Flower with little)
            sweep = Sweep(wrapped=True)
        else:
            swept = _keep(
                held,
                self.listing.pages(head, lambda task: False, start=sweep_from, most=self.tasks_per_check),
            )
            sweep = Sweep(wrapped=True) if self.listing.reached_end else Sweep(next_offset=sweep_from + swept)
        for uuid in recheck:
            if uuid not in held and (info := self.api.get_object(f"api/task/info/{uuid}", absent_ok=True)):
                held[uuid] = held_task({**info, "uuid": uuid})
        return list(held.values()), sweep


def _keep(held: dict[str, HeldTask], pages: Iterator[list[dict[str, Any]]]) -> int:
    """Keep every task of `pages` (a later reading replaces an earlier one); how many were read."""
    read = 0
    for page in pages:
        held.update((task["uuid"], held_task(task)) for task in page)
        read += len(page)
    return read


def held_task(task: dict[str, Any]) -> HeldTask:
    return HeldTask(task["uuid"], task.get("state"), epoch_of(task, "timestamp"))


def compare(held: list[HeldTask], loaded: Mapping[str, float | None], walk_started_at: float) -> Completeness:
    """`loaded`: uuid → last-event time in the warehouse, for the held uuids found there."""
    result = Completeness(checked=len({task.uuid for task in held}))
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


def last_walk(pipeline: dlt.Pipeline) -> dict[str, Any] | None:
    """The tasks walk of the latest committed load (`walked_from` and its report), None before any."""
    state = pipeline.state.get("sources", {}).get("flower", {}).get("resources", {}).get("tasks", {})
    return state if "walked_from" in state else None
