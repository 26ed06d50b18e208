"""The completeness comparison: the tasks Flower holds are in the warehouse, as new as Flower has them, read
without a full re-read of a big Flower at every check (the walk's part, a rolling sweep, the losses found)."""

import time

from sources.flower.client import FlowerApi
from sources.flower.completeness import CheckReader, HeldTask, Sweep, compare
from tests.fixtures.recorded_flower import PASSWORD, USERNAME, load, received_every, walk_state
from tests.fixtures.warehouse_reads import rows


def loaded_times() -> dict[str, float | None]:
    return dict(rows("select uuid, epoch(timestamp) from flower.tasks"))


def reader_for(flower, tasks_per_check: int = 1000) -> CheckReader:
    api = FlowerApi(flower.base_url, USERNAME, PASSWORD, None, request_timeout=10)
    return CheckReader(api, page_size=5, tasks_per_check=tasks_per_check)


def test_a_complete_load_passes(flower):
    received_every(flower, 12, every_s=60)
    pipeline = load(flower, page_size=5)

    held, sweep = reader_for(flower).tasks(None, 0, [])
    result = compare(held, loaded_times(), walk_state(pipeline)["walked_from"])

    assert result.passed
    assert sweep == Sweep(wrapped=True)
    assert result.summary() == {
        "tasks_checked": 12,
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

    held, _ = reader_for(flower).tasks(None, 0, [])
    result = compare(held, loaded_times(), walked_from)

    assert not result.passed
    assert (result.missing, result.stale, result.changed_since_load) == (["never-loaded"], ["task-003"], 1)
    assert result.summary()["tasks_checked"] == 14


def test_a_big_flower_is_swept_a_slice_per_check_and_a_task_missing_anywhere_is_found_within_one_sweep(
    flower,
):
    """40 tasks, 12 per check: the walk's part (received since its line) plus the next 12 of the whole list;
    a task the warehouse lost deep in the list is found by the sweep within ceil(40 / 12) = 4 checks, and
    every check after that asks for it again, so the check stays failed."""
    received_every(flower, 40, every_s=60)
    pipeline = load(flower, page_size=5)
    walked_from = walk_state(pipeline)["walked_from"]
    line = walked_from - 5 * 60  # the walk read tasks received in the last 5 minutes: task-000 .. task-004
    flower.add_task("lost-deep", time.time() - 30.5 * 60)  # between task-030 and task-031
    reader = reader_for(flower, tasks_per_check=12)

    verdicts, offsets, sweep = [], [], Sweep()
    recheck: list[str] = []
    for _ in range(6):
        offsets.append(sweep.next_offset)
        held, sweep = reader.tasks(line, sweep.next_offset, recheck)
        result = compare(held, loaded_times(), walked_from)
        verdicts.append(result.missing)
        recheck = result.missing
        checked = {task.uuid for task in held}
        assert {f"task-{index:03d}" for index in range(5)} <= checked  # the walk's part, every time

    assert offsets == [0, 12, 24, 36, 0, 12]  # 41 tasks: the fourth check reaches the end and wraps
    assert verdicts == [[], [], ["lost-deep"], ["lost-deep"], ["lost-deep"], ["lost-deep"]]


def test_a_sweep_that_new_tasks_push_down_reads_some_twice_and_skips_none(flower):
    received_every(flower, 30, every_s=60)
    reader = reader_for(flower, tasks_per_check=10)
    first, sweep = reader.tasks(time.time() + 60, 0, [])  # a line above every task: only the sweep reads
    for index in range(4):
        flower.add_task(f"new-{index}", time.time() + index)

    second, _ = reader.tasks(time.time() + 60, sweep.next_offset, [])

    assert sorted(task.uuid for task in first) == [f"task-{index:03d}" for index in range(10)]
    assert sorted(task.uuid for task in second) == [f"task-{index:03d}" for index in range(6, 16)]


def test_a_task_without_an_event_time_counts_by_presence():
    held = [HeldTask("a", "SUCCESS", None), HeldTask("b", "SUCCESS", None)]

    result = compare(held, {"a": None}, walk_started_at=time.time())

    assert (result.missing, result.stale) == (["b"], [])
