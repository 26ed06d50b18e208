"""The completeness comparison: every task Flower holds is in the warehouse, as new as Flower has it."""

import time

from sources.flower.client import FlowerApi
from sources.flower.completeness import HeldTask, compare, held_tasks
from tests.fixtures.recorded_flower import PASSWORD, USERNAME
from tests.test_flower_source import load, received_every, rows, walk_state


def loaded_times() -> dict[str, float | None]:
    return dict(rows("select uuid, epoch(timestamp) from flower.tasks"))


def api_for(flower) -> FlowerApi:
    return FlowerApi(flower.base_url, USERNAME, PASSWORD, None, request_timeout=10)


def test_a_complete_load_passes(flower):
    received_every(flower, 12, every_s=60)
    pipeline = load(flower, page_size=5)

    held = list(held_tasks(api_for(flower), page_size=5))
    result = compare(held, loaded_times(), walk_state(pipeline)["walked_from"])

    assert result.passed
    assert result.summary() == {
        "tasks_in_flower": 12,
        "missing": 0,
        "older_in_warehouse": 0,
        "changed_since_the_load": 0,
        "missing_sample": [],
        "older_in_warehouse_sample": [],
    }


def test_missing_and_older_tasks_fail_and_are_named(flower):
    received_every(flower, 12, every_s=60)
    pipeline = load(flower, page_size=5)
    walked_from = walk_state(pipeline)["walked_from"]
    flower.add_task("never-loaded", time.time() - 3600)  # e.g. a worker clock an hour behind
    flower.tasks["task-003"] |= {"state": "FAILURE", "timestamp": walked_from - 1}  # an event the load missed
    flower.add_task("after-the-load", time.time() + 1)

    held = list(held_tasks(api_for(flower), page_size=5))
    result = compare(held, loaded_times(), walked_from)

    assert not result.passed
    assert (result.missing, result.stale, result.changed_since_load) == (["never-loaded"], ["task-003"], 1)
    assert result.summary()["tasks_in_flower"] == 14


def test_a_task_without_an_event_time_counts_by_presence():
    held = [HeldTask("a", "SUCCESS", None), HeldTask("b", "SUCCESS", None)]

    result = compare(held, {"a": None}, walk_started_at=time.time())

    assert (result.missing, result.stale) == (["b"], [])
