"""The demo Flower stack is real: auth is enforced, workloads land in Flower as planned, stop() is clean."""

import pytest
import requests

from demo import workload
from demo.stack import FlowerStack

pytestmark = pytest.mark.end_to_end

EXPECTED_MIX = {
    "etl.build_daily_revenue": {"SUCCESS": 1},
    "etl.extract_orders": {"SUCCESS": 5, "FAILURE": 1},
    "etl.extract_customers": {"SUCCESS": 6},
    "etl.load_payments": {"SUCCESS": 5, "FAILURE": 1},
    "etl.enrich_orders": {"SUCCESS": 5, "FAILURE": 1},
    "etl.refresh_customer_ltv": {"SUCCESS": 2, "FAILURE": 1},
    "etl.publish_dashboard": {"SUCCESS": 2},
}


def test_flower_api_requires_basic_auth(flower_stack):
    url = flower_stack.base_url + "/api/tasks"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, auth=(flower_stack.username, "wrong"), timeout=5).status_code == 401
    assert flower_stack.api_get("/api/tasks", params={"limit": 1}).status_code == 200


def test_source_env_points_at_the_stack(flower_stack):
    assert flower_stack.source_env() == {
        "SOURCES__FLOWER__BASE_URL": flower_stack.base_url,
        "SOURCES__FLOWER__USERNAME": "taskline",
        "SOURCES__FLOWER__PASSWORD": "taskline-demo",
    }


def test_workload_lands_in_flower_with_the_planned_final_states(flower_stack):
    summary = workload.run_workload(flower_stack)

    assert summary.expected_states() == EXPECTED_MIX
    planned = summary.by_id()
    assert len(planned) == 30
    every_task = _paged_tasks(flower_stack, page_size=7)
    in_flower = {uuid: task for uuid, task in every_task.items() if uuid in planned}
    assert set(in_flower) == set(planned)
    for uuid, task in in_flower.items():
        expected = planned[uuid]
        assert (task["name"], task["state"], task["retries"]) == (
            expected.name,
            expected.expected_state,
            expected.expected_retries,
        )
        if expected.expected_state == "FAILURE":
            assert task["exception"] == expected.expected_exception


def test_lingering_task_is_started_then_succeeds(flower_stack):
    task_id = workload.start_lingering_task(flower_stack, seconds=1.5)

    assert _flower_state(flower_stack, task_id) == "STARTED"
    workload.wait_until_idle(flower_stack, timeout=10)
    assert _flower_state(flower_stack, task_id) == "SUCCESS"


def test_flower_restart_forgets_tasks_and_stop_leaves_no_processes(tmp_path):
    with FlowerStack(tmp_path, concurrency=1) as stack:
        workload.send_noop_tasks(stack, 5)
        workload.wait_until_flower_has(stack, 5, taskname="etl.noop", state="SUCCESS", timeout=10)
        assert len(workload.flower_tasks(stack)) == 5
        stack.restart_flower()
        assert workload.flower_tasks(stack) == {}  # Flower only knows the events it received
        pids = stack.process_ids()
        assert len(pids) == 4  # redis, the worker and its one pool process, Flower
    assert stack.process_ids() == []
    assert not [pid for pid in pids if _alive(pid)]
    stack.stop()  # a second stop is harmless


def _paged_tasks(stack: FlowerStack, page_size: int) -> dict[str, dict]:
    """Every task via limit/offset, checking that the pages join without overlap."""
    tasks: dict[str, dict] = {}
    offset = 0
    while page := stack.api_get("/api/tasks", params={"limit": page_size, "offset": offset}).json():
        assert not set(page) & set(tasks)
        tasks.update(page)
        offset += page_size
    return tasks


def _flower_state(stack: FlowerStack, task_id: str) -> str:
    return stack.api_get(f"/api/task/info/{task_id}").json()["state"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
