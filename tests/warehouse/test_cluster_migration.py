"""A warehouse built before clusters (tests/recordings/warehouse_before_clusters: exported from one the previous
release built) migrated in place by the first capture: its rows become the default cluster's, its cursor goes
on, nothing is loaded again, and a second cluster's tasks with the same ids stay apart from them."""

import time

import dagster as dg
import duckdb
import pytest
from pytest_httpserver import HTTPServer

from orchestration.warehouse.pipelines import make_pipeline
from sources.flower import flower_source
from sources.flower.completeness import last_walk
from tests.fixtures.demo_tasks import TASKS
from tests.fixtures.deployments import deployment
from tests.fixtures.marts_sources import recorded_body, serve_flower
from tests.fixtures.paths import RECORDINGS

pytestmark = pytest.mark.integration

BEFORE_CLUSTERS = RECORDINGS / "warehouse_before_clusters"
RAW_TABLES = ("tasks", "workers", "task_types", "queues_length")


def counts(warehouse, where: str = "true") -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return {
            table: connection.execute(f"select count(*) from flower.{table} where {where}").fetchone()[0]
            for table in RAW_TABLES
        }


def tasks_by_cluster(warehouse) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return dict(connection.execute("select cluster, count(*) from flower.tasks group by 1").fetchall())


@pytest.fixture
def warehouse_before_clusters(isolated_warehouse):
    with duckdb.connect(str(isolated_warehouse)) as connection:
        connection.execute(f"import database '{BEFORE_CLUSTERS}'")
    return isolated_warehouse


def test_the_first_capture_migrates_in_place_and_a_second_cluster_stays_apart(
    warehouse_before_clusters, monkeypatch
):
    before = counts(warehouse_before_clusters)
    pipeline = make_pipeline("flower")
    pipeline.sync_destination()  # the cursor, as the previous release committed it with its rows
    cursor = last_walk(pipeline)["walked_from"]
    tasks = {**recorded_body("api_tasks_all_trimmed.json"), **{row["uuid"]: row for row in TASKS}}
    now = time.time()
    new = "new-after-upgrade"
    tasks[new] = {**next(iter(tasks.values())), "uuid": new, "received": now, "timestamp": now}
    queues = len(recorded_body("api_queues_length.json")["active_queues"])
    with HTTPServer() as flower:
        serve_flower(flower, celery_messages=2, online=True, tasks=tasks)
        monkeypatch.setenv("SOURCES__FLOWER__BASE_URL", flower.url_for("/").rstrip("/"))
        monkeypatch.setenv("SOURCES__FLOWER__USERNAME", "taskline")
        monkeypatch.setenv("SOURCES__FLOWER__PASSWORD", "taskline-demo")
        capture = deployment("flower").resolve_job_def("flower_capture")
        assert capture.execute_in_process(instance=dg.DagsterInstance.ephemeral()).success

        after = counts(warehouse_before_clusters)
        assert after == counts(warehouse_before_clusters, "cluster = 'default'")  # every row, old and new
        # one new task; one snapshot more of the worker and of the queues; the task types merged on their name
        assert after == {
            "tasks": before["tasks"] + 1,
            "workers": before["workers"] + 1,
            "task_types": before["task_types"],
            "queues_length": before["queues_length"] + queues,
        }
        walk = last_walk(make_pipeline("flower"))["last_walk"]
        assert walk["previous_start"] == cursor  # the cursor went on: nothing was read from scratch
        assert walk["tasks_read"] < len(tasks)

        billing = make_pipeline("flower_billing", dataset="flower")
        billing.run(flower_source(base_url=flower.url_for("/").rstrip("/"), cluster="billing"))
    # the same task ids in another cluster are other tasks: both kept, neither overwritten
    assert tasks_by_cluster(warehouse_before_clusters) == {"default": after["tasks"], "billing": len(tasks)}
    assert counts(warehouse_before_clusters, "cluster = 'default'") == after
