"""An estate of Flowers declared by name: one partition of Flower's assets and checks per cluster, a capture
trigger per cluster, the schedule capturing each in a run of its own, and a cluster that is down failing only
its own capture with a sentence that names it. Flowers over real HTTP (pytest-httpserver), in-process runs."""

import socket
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.tags import PARTITION_NAME_TAG
from pytest_httpserver import HTTPServer

import orchestration.alerts.notifier as notify
from orchestration.keys import COMPLETENESS_CHECK, FLOWER_TASKS
from tests.fixtures.demo_tasks import TASKS
from tests.fixtures.deployments import deployment
from tests.fixtures.marts_sources import FLOWER_TASKS as TASKS_PER_FLOWER
from tests.fixtures.marts_sources import recorded_body, serve_flower

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tasks_held() -> dict[str, dict]:
    return {**recorded_body("api_tasks_all_trimmed.json"), **{row["uuid"]: dict(row) for row in TASKS}}


# what each answering Flower holds (a test may add to it between runs)
HELD = {"billing": tasks_held(), "shop": tasks_held()}


@pytest.fixture
def estate(monkeypatch, fast_retries):
    """billing and shop answer; eu's Flower is down."""
    with HTTPServer() as billing, HTTPServer() as shop:
        for name, flower in (("billing", billing), ("shop", shop)):
            HELD[name] = tasks_held()
            serve_flower(flower, celery_messages=3, online=True, tasks=HELD[name])
        monkeypatch.setenv("SOURCES__FLOWER__USERNAME", "taskline")
        monkeypatch.setenv("SOURCES__FLOWER__PASSWORD", "taskline-demo")
        for name, url in (
            ("BILLING", billing.url_for("/").rstrip("/")),
            ("SHOP", shop.url_for("/").rstrip("/")),
            ("EU", f"http://127.0.0.1:{closed_port()}"),
        ):
            monkeypatch.setenv(f"SOURCES__FLOWER__CLUSTERS__{name}__BASE_URL", url)
        yield deployment("flower")


def tasks_per_cluster(warehouse) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return dict(
            connection.execute("select cluster, count(*) from flower.tasks group by 1 order by 1").fetchall()
        )


def test_each_cluster_is_a_partition_with_its_own_trigger_and_scheduled_run(estate, tmp_path):
    assert estate.resolve_assets_def(FLOWER_TASKS).partitions_def.get_partition_keys() == [
        "billing",
        "eu",
        "shop",
    ]
    sensors = sorted(sensor.name for sensor in estate.sensors if "pressure" in sensor.name)
    assert sensors == [
        "flower_capture_on_pressure_billing",
        "flower_capture_on_pressure_eu",
        "flower_capture_on_pressure_shop",
    ]
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert scheduled_captures(estate, instance) == [
            (cluster, f"{cluster}@2026-12-05T14:05:00+00:00") for cluster in ("billing", "eu", "shop")
        ]
        starting = dg.DagsterRun(
            job_name="flower_capture", status=dg.DagsterRunStatus.STARTING, tags={PARTITION_NAME_TAG: "eu"}
        )
        instance.add_run(starting)  # eu's last capture has not begun its walk: it captures what is new
        assert scheduled_captures(estate, instance) == [
            (cluster, f"{cluster}@2026-12-05T14:05:00+00:00") for cluster in ("billing", "shop")
        ]


def scheduled_captures(estate: dg.Definitions, instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """(partition, run key) of each capture the schedule's 14:05 tick requests."""
    schedule = estate.resolve_schedule_def("flower_capture_every_5_minutes")
    tick = datetime(2026, 12, 5, 14, 5, tzinfo=UTC)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick, repository_def=estate.get_repository_def()
    ) as context:
        requests = schedule.evaluate_tick(context).run_requests
    return sorted((request.partition_key, request.run_key) for request in requests)


def test_a_cluster_that_is_down_fails_only_its_own_capture_and_names_itself(estate, isolated_warehouse):
    capture = estate.resolve_job_def("flower_capture")
    instance = dg.DagsterInstance.ephemeral()
    results = {
        cluster: capture.execute_in_process(instance=instance, partition_key=cluster, raise_on_error=False)
        for cluster in ("billing", "eu", "shop")
    }
    assert {cluster: result.success for cluster, result in results.items()} == {
        "billing": True,
        "eu": False,
        "shop": True,
    }
    failure = next(event for event in results["eu"].all_events if event.is_step_failure)
    message = failure.step_failure_data.error.to_string()
    assert "cannot reach Flower of cluster eu at http://127.0.0.1:" in message
    assert "Check SOURCES__FLOWER__CLUSTERS__EU__BASE_URL." in message
    assert tasks_per_cluster(isolated_warehouse) == {"billing": TASKS_PER_FLOWER, "shop": TASKS_PER_FLOWER}
    for cluster in ("billing", "shop"):
        evaluations = {e.check_name: e for e in results[cluster].get_asset_check_evaluations()}
        completeness = evaluations[COMPLETENESS_CHECK.name]
        assert completeness.passed and completeness.partition == cluster
        assert completeness.description == (
            f"All {TASKS_PER_FLOWER} tasks checked (all the tasks Flower of cluster {cluster} holds) are in the "
            "warehouse, as new as Flower has them."
        )
    partitions = instance.get_materialized_partitions(FLOWER_TASKS)
    assert partitions == {"billing", "shop"}


def test_the_notifier_names_the_cluster_and_keeps_each_clusters_check_apart(estate):
    capture = estate.resolve_job_def("flower_capture")
    instance = dg.DagsterInstance.ephemeral()
    for cluster in ("billing", "eu", "shop"):
        capture.execute_in_process(instance=instance, partition_key=cluster, raise_on_error=False)
    state = notify.NotifierState()
    [failed_run] = notify.run_failure_messages(instance, state, "http://ui")
    assert failed_run["text"].startswith("taskline run of `flower_capture` (cluster eu) failed (run ")
    # the recorded tasks are days old: the freshness check warns for both clusters, each on its own
    assert sorted(
        m["text"].split(":")[0] for m in notify.self_check_messages(instance, state, "http://ui")
    ) == [
        f"taskline's check `recent_task_events` on flower/tasks (cluster {cluster}) failed (warn)"
        for cluster in ("billing", "shop")
    ]

    # billing's Flower now holds a task received long before the last walk, which no capture reads again
    old = next(iter(HELD["billing"].values()))
    HELD["billing"]["lost-in-billing"] = {**old, "uuid": "lost-in-billing"}
    for cluster in ("billing", "shop"):
        capture.execute_in_process(instance=instance, partition_key=cluster, raise_on_error=False)
    [billing_red] = notify.self_check_messages(instance, state, "http://ui")
    assert billing_red["text"].startswith(
        "taskline's check `every_task_in_flower_is_loaded` on flower/tasks (cluster billing) failed (error): 1 of "
    )
    assert sorted(state.failing_checks) == [
        "flower/tasks:every_task_in_flower_is_loaded@billing",
        "flower/tasks:recent_task_events@billing",
        "flower/tasks:recent_task_events@shop",
    ]
    capture.execute_in_process(instance=instance, partition_key="shop")  # shop green again: nothing to tell
    assert notify.self_check_messages(instance, state, "http://ui") == []
