"""Which tasks a run reads from Flower: every task that may have changed since the previous run, on any 2.x.

Flower has no filter on a task's last change, and its default order is not a contract: 2.2 lists the last
event first, 2.0.x compares Lamport clocks first, so after a worker restart (every deploy) new tasks come
LAST. The walk therefore uses only what every Flower 2.x offers, `sort_by` on `received` / `started` with
limit/offset pages:

1. tasks with no received time (sent but not picked up yet, or first seen mid-flight after a Flower
   restart): `sort_by=received` lists them first;
2. tasks received since the line, newest first (`sort_by=-received`); a retry is received again, so it
   comes back here;
3. tasks in flight at the previous run that were received before the line (long runs, ETA tasks,
   backlogs): asked for one by one when few, else found through `sort_by=-started` and the lists of
   their states, the rest one by one.

The line is the loader's own clock when the previous complete walk began, minus the look-back window: no
worker clock can push it. A task from a worker whose clock runs ahead is read again while its time lies
in the future, which costs a little and loses nothing. Pages overlap by a few tasks: when Flower drops
tasks from the list while we page (`max_tasks` eviction), rows shift up and we read back instead of
skipping them. Everything read merges on `uuid`, so reading a task twice never duplicates it.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import dlt
import pyarrow as pa

from sources.flower.client import FlowerApi
from sources.flower.loaded import loaded_versions, same_time
from sources.flower.pressure import read_tasks_seen
from sources.flower.rows import Oddities, task_columns, task_row, task_table

logger = logging.getLogger("sources.flower")

# Celery's final states (celery.states.READY_STATES plus REJECTED and IGNORED, which no event follows either): a
# task in any other state, custom ones such as PROGRESS included, may still change
FINAL_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED", "IGNORED"})
# tasks without a received time are usually none: ask for a short page first
UNRECEIVED_PROBE = 50
# the newest tasks: a short first page, since a run with little new stops in it (each request costs Flower a
# sort of every task it holds, its answer a serialisation of each task in the page)
HEAD_PAGE = 1000
# in-flight tasks asked for one by one (/api/task/info) before the listings are cheaper
INFO_CALLS_MAX = 20
OVERLAP_MAX = 20
# pages read again in one walk because the list shifted under us; beyond this the check has to tell
READ_BACKS_MAX = 10


@dataclass
class WalkReport:
    """What one walk did, kept in the resource state for the completeness check and the logs."""

    started_at: float
    line: float | None = None  # tasks received since then were read (None: all of them)
    previous_start: float | None = None  # when the previous walk began: tasks received since are new to it
    tasks_seen: int | None = None  # Flower's count of tasks seen since it started, when the walk began
    requests: int = 0
    tasks_read: int = 0
    unchanged_left_out: int = 0  # tasks read again that the warehouse already held as they are
    info_calls: int = 0
    read_back: int = 0  # times Flower's list shifted up under us (tasks evicted) and a page was read again
    possibly_missed: int = 0  # shifts noticed after the read-backs ran out: the completeness check tells
    forgotten_in_flight: list[str] = field(default_factory=list)
    replaced_values: int = 0
    replaced_samples: list[str] = field(default_factory=list)


class Listing:
    """Pages of /api/tasks in one order, read until a task meets `stop` (it and all after it left out)."""

    def __init__(self, api: FlowerApi, page_size: int, report: WalkReport):
        self.api = api
        self.page_size = page_size
        # a one-task page cannot overlap: it still reads everything, only without noticing shifts
        self.overlap = min(OVERLAP_MAX, max(1, page_size // 10)) if page_size > 1 else 0
        self.head_page = min(HEAD_PAGE, page_size)
        self.reached_end = False  # whether the latest `pages` ran to the end of the list (no task stopped it)
        self.report = report

    def pages(
        self,
        params: dict[str, Any],
        stop: Callable[[dict[str, Any]], bool],
        first_limit: int | None = None,
        start: int = 0,
        most: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """From offset `start`, at most `most` tasks (None: no limit)."""
        offset, limit, anchors, taken = start, first_limit or self.page_size, [], 0
        while True:
            if most is not None:
                limit = min(limit, most - taken + len(anchors))
            page = self._page(params, offset, limit)
            fresh, shifted = self._after_anchors(page, anchors)
            if shifted and self._read_back(params, offset, start):
                offset = max(start, offset - self.page_size)
                continue
            kept = list(_until(fresh, stop))[: None if most is None else most - taken]
            taken += len(kept)
            if kept:
                yield kept
            self.reached_end = len(kept) == len(fresh) and len(page) < limit
            if len(kept) < len(fresh) or len(page) < limit or taken == most:
                return
            anchors = [task["uuid"] for task in page[len(page) - self.overlap :]] if self.overlap else []
            offset += len(page) - self.overlap
            limit = self.page_size

    def _read_back(self, params: dict[str, Any], offset: int, start: int) -> bool:
        """Whether to read the page before again, after the rows shifted up past the overlap."""
        if offset > start and self.report.read_back < READ_BACKS_MAX:
            self.report.read_back += 1
            logger.warning(
                "Flower's task list shifted while it was paged (%s at offset %d): tasks left it meanwhile "
                "(max_tasks eviction?); reading the page before again",
                params,
                offset,
            )
            return True
        self.report.possibly_missed += 1
        return False

    def _page(self, params: dict[str, Any], offset: int, limit: int) -> list[dict[str, Any]]:
        body = self.api.get_object("api/tasks", {**params, "limit": limit, "offset": offset})
        self.report.requests += 1
        return [{**task, "uuid": uuid} for uuid, task in body.items()]

    @staticmethod
    def _after_anchors(page: list[dict[str, Any]], anchors: list[str]) -> tuple[list[dict[str, Any]], bool]:
        """The tasks after the last one already read; `shifted` when none of those is in the page any more."""
        if not anchors:
            return page, False
        known = set(anchors)
        last = max((index for index, task in enumerate(page) if task["uuid"] in known), default=None)
        if last is None:
            return page, bool(page)
        return page[last + 1 :], False


def _until(tasks: list[dict[str, Any]], stop: Callable[[dict[str, Any]], bool]) -> Iterator[dict[str, Any]]:
    for task in tasks:
        if stop(task):
            return
        yield task


def epoch_of(task: dict[str, Any], name: str) -> float | None:
    value = task.get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def before(name: str, line: float | None) -> Callable[[dict[str, Any]], bool]:
    """Stop at the first task whose `name` time is missing or older than the line (lists sorted on it)."""

    def stop(task: dict[str, Any]) -> bool:
        value = epoch_of(task, name)
        return value is None or (line is not None and value < line)

    return stop


def has_received(task: dict[str, Any]) -> bool:
    return epoch_of(task, "received") is not None


def is_in_flight(task: dict[str, Any]) -> bool:
    return task.get("state") not in FINAL_STATES


class TasksWalk:
    """One run's walk: the pages to load, and the in-flight tasks the next run must look at again."""

    def __init__(
        self, api: FlowerApi, page_size: int, state: dict[str, Any], lookback_minutes: float, cluster: str
    ):
        self.api = api
        self.cluster = cluster
        self.report = WalkReport(started_at=time.time())
        self.listing = Listing(api, page_size, self.report)
        self.previous_start = previous_start = state.get("walked_from")
        self.line = previous_start - lookback_minutes * 60 if previous_start is not None else None
        self.report.line, self.report.previous_start = self.line, previous_start
        self.candidates: dict[str, str] = dict(state.get("in_flight") or {})
        self.in_flight: dict[str, str] = {}

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        self.report.tasks_seen = read_tasks_seen(self.api)  # before reading: what the capture covers
        yield from self._seen(self.listing.pages({"sort_by": "received"}, has_received, UNRECEIVED_PROBE))
        yield from self._seen(
            self.listing.pages(
                {"sort_by": "-received"}, before("received", self.line), self.listing.head_page
            )
        )
        yield from self._in_flight_before_the_line()

    def _seen(self, pages: Iterator[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        for page in pages:
            for task in page:  # a task read twice: its later reading is the newer one
                self.candidates.pop(task["uuid"], None)
                if is_in_flight(task) and has_received(task):
                    self.in_flight[task["uuid"]] = task.get("state")
                else:
                    self.in_flight.pop(task["uuid"], None)
            self.report.tasks_read += len(page)
            yield page

    def _in_flight_before_the_line(self) -> Iterator[list[dict[str, Any]]]:
        if len(self.candidates) > INFO_CALLS_MAX:
            yield from self._seen(self.listing.pages({"sort_by": "-started"}, before("started", self.line)))
            for state in sorted(set(self.candidates.values())):
                listed = self.listing.pages({"state": state}, lambda task: False)
                yield from self._seen(
                    [task for task in page if task["uuid"] in self.candidates] for page in listed
                )
        one_by_one = [task for uuid in sorted(self.candidates) if (task := self._info(uuid)) is not None]
        yield from self._seen([one_by_one] if one_by_one else [])

    def without_unchanged(self, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page less the tasks read again (the look-back, the in-flight) that the warehouse already holds
        with the same last event: at high rates the look-back reads thousands of those every run, and merging
        them again would cost the load and every incremental model after it."""
        if self.previous_start is None:
            return page
        again = [task["uuid"] for task in page if (epoch_of(task, "received") or 0) < self.previous_start]
        if not again:
            return page
        stored = loaded_versions(dlt.current.pipeline(), self.cluster, again)
        unchanged = {
            task["uuid"]
            for task in page
            if (version := stored.get(task["uuid"]))
            and same_time(version[0], epoch_of(task, "timestamp"))
            and version[1] == task.get("state")
        }
        self.report.unchanged_left_out += len(unchanged)
        return [task for task in page if task["uuid"] not in unchanged]

    def _info(self, uuid: str) -> dict[str, Any] | None:
        info = self.api.get_object(f"api/task/info/{uuid}", absent_ok=True)
        self.report.info_calls += 1
        if info is None:
            self.report.forgotten_in_flight.append(uuid)
            logger.warning(
                "Flower no longer holds task %s (evicted or Flower restarted) while it was %s at the last load: "
                "its last loaded state stays in the warehouse",
                uuid,
                self.candidates[uuid],
            )
            return None
        return {**info, "uuid": uuid}

    def finish(self, state: dict[str, Any], oddities: Oddities) -> None:
        """Commit the walk to the resource state (dlt stores it with the loaded rows, or not at all)."""
        self.report.replaced_values = oddities.count
        self.report.replaced_samples = oddities.samples
        state["walked_from"] = self.report.started_at
        state["in_flight"] = self.in_flight
        state["last_walk"] = asdict(self.report)
        if self.report.possibly_missed:
            logger.warning(
                "Flower's task list kept shifting while it was paged (%d time(s) after %d read-backs): tasks "
                "may be missing from this load; the completeness check names any that Flower still holds",
                self.report.possibly_missed,
                self.report.read_back,
            )


def changed_tasks(
    api: FlowerApi, page_size: int, lookback_minutes: float, include_payloads: bool, cluster: str
) -> Iterator[pa.Table]:
    """Every task that may have changed since the previous run (module docstring), as Arrow pages of
    `cluster`'s rows; a task read again that the warehouse already holds as it is now is left out."""
    state = dlt.current.resource_state("tasks")
    walk = TasksWalk(api, page_size, state, lookback_minutes, cluster)
    oddities = Oddities()
    columns = task_columns(include_payloads)
    for page in walk.pages():
        changed = walk.without_unchanged(page)
        if changed:
            page = task_table(
                [task_row(task, include_payloads, oddities) for task in changed], columns, oddities
            )
            yield page.append_column("cluster", pa.array([cluster] * page.num_rows, pa.string()))
    walk.finish(state, oddities)


def task_details(tasks: pa.Table, api: FlowerApi, include_payloads: bool) -> Iterator[pa.Table]:
    """Each task of a `tasks` page again, from /api/task/info/<uuid>.

    Off by default: it costs one HTTP call per task (an N+1 against a single-threaded Flower) and the answer
    holds nothing that /api/tasks lacks. Enable it (with_task_info=true) only to cross-check the list.
    """
    oddities = Oddities()
    rows = []
    for uuid in tasks.column("uuid").to_pylist():
        info = api.get_object(f"api/task/info/{uuid}", absent_ok=True)
        if info is None:
            logger.warning("Flower no longer knows task %s (evicted or restarted); skipping its info", uuid)
            continue
        rows.append(task_row({**info, "uuid": uuid}, include_payloads, oddities))
    yield task_table(rows, task_columns(include_payloads), oddities)
