"""The daemon of `make serve` ticks one-minute capture and marts schedules on a fresh warehouse and a new
DAGSTER_HOME (its own module: it waits on the clock's minutes, while other modules run beside it); then a
second cluster is declared in the project's .dlt/config.toml and secrets.toml while it serves, and joins."""

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_graphql import DagsterGraphQLClient

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import flower_tasks, run_workload, send_noop_tasks, wait_until_flower_shows_final
from orchestration.warehouse.lock import exclusive_writer
from tests.fixtures.final_states import assert_every_task_once_in_its_final_state
from tests.fixtures.paths import ROOT
from tests.fixtures.served import FINISHED, NEVER, served

pytestmark = pytest.mark.end_to_end

CAPTURES, MARTS = "flower_capture_every_5_minutes", "flower_marts_every_15_minutes"


@dataclass
class Deployment:
    flower: FlowerStack
    server: served
    instance: dg.DagsterInstance
    project: Path  # DLT_PROJECT_DIR: where its .dlt/ settings are
    warehouse: Path
    log: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    """`make serve` on a Flower holding the demo workload's tasks (one cluster, the single-Flower settings of
    the environment), every-minute capture and marts schedules, a fresh warehouse and DAGSTER_HOME."""
    tmp_path = tmp_path_factory.mktemp("scheduled")
    project = tmp_path / "project"
    (project / ".dlt").mkdir(parents=True)
    shutil.copy(ROOT / ".dlt" / "config.toml", project / ".dlt" / "config.toml")
    with FlowerStack(tmp_path / "flower") as flower, SQLFlowStandIn() as sqlflow:
        run_workload(flower)
        env = {
            **os.environ,
            **demo_source_env(flower, sqlflow),
            "DLT_PROJECT_DIR": str(project),
            "SOURCES__FLOWER__PAGE_SIZE": "20",
            "TASKLINE_SQLFLOW_SCHEDULE": NEVER,
            "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "TASKLINE_DOCS_DIR": str(tmp_path / "docs"),
            "TASKLINE_FLOWER_CAPTURE_SCHEDULE": "* * * * *",
            "TASKLINE_FLOWER_MARTS_SCHEDULE": "* * * * *",
        }
        log = tmp_path / "serve.log"
        with served(env, log) as server, dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            yield Deployment(flower, server, instance, project, tmp_path / "warehouse.duckdb", log)


def test_the_first_runs_the_daemon_ticks_on_a_fresh_warehouse_are_green(deployment):
    """On an empty warehouse and a new DAGSTER_HOME: the first capture succeeds, the marts schedule waits for
    it (a skipped tick, not a red run), then builds them green."""
    first = wait_for_finished_runs(deployment, {CAPTURES: (CAPTURES, None), MARTS: (MARTS, None)})
    capture, marts = first[CAPTURES].dagster_run, first[MARTS].dagster_run
    assert (capture.job_name, capture.status.value) == ("flower_capture", "SUCCESS")
    assert (marts.job_name, marts.status.value) == ("flower_marts", "SUCCESS")
    with in_turn(deployment):
        assert_every_task_once_in_its_final_state(deployment.warehouse, deployment.flower)
        with duckdb.connect(str(deployment.warehouse), read_only=True) as connection:
            [(runs,)] = connection.execute("select count(*) from marts.fct_task_runs").fetchall()
    assert runs == len(flower_tasks(deployment.flower))


def test_a_cluster_declared_while_serving_is_captured_beside_the_first_and_no_history_is_lost(
    deployment, tmp_path
):
    """The README's way to add a cluster: declare the one Flower so far as `default` and the new one by name
    in .dlt/config.toml (its login in secrets.toml), then Reload in the UI. The webserver shows both
    partitions at once; the daemon reloads the code location itself within a minute, and its schedule
    captures each cluster in a run of its own. `default` keeps its pipeline: nothing is read again."""
    with FlowerStack(tmp_path / "shop", flower_release="2.0.1") as shop:
        wait_until_flower_shows_final(shop, send_noop_tasks(shop, 5))
        settings = deployment.project / ".dlt"
        with (settings / "config.toml").open("a") as config:
            config.write(
                f'\n[sources.flower.clusters.default]\n\n[sources.flower.clusters.shop]\nbase_url = "{shop.base_url}"\n'
            )
        (settings / "secrets.toml").write_text(
            f'[sources.flower.clusters.shop]\nusername = "{shop.username}"\npassword = "{shop.password}"\n'
        )
        declared_at = time.time()

        client = DagsterGraphQLClient("127.0.0.1", port_number=deployment.server.port)
        assert client.reload_repository_location("taskline").status.value == "SUCCESS"
        nodes = client._execute('{ assetNodes(assetKeys: [{path: ["flower", "tasks"]}]) { partitionKeys } }')
        assert nodes["assetNodes"] == [{"partitionKeys": ["default", "shop"]}]

        captured = wait_for_finished_runs(
            deployment,
            {cluster: (CAPTURES, {"dagster/partition": cluster}) for cluster in ("default", "shop")},
            since=declared_at,
        )
        assert {cluster: record.dagster_run.status.value for cluster, record in captured.items()} == {
            "default": "SUCCESS",
            "shop": "SUCCESS",
        }
        with in_turn(deployment):
            assert_every_task_once_in_its_final_state(deployment.warehouse, shop, marts=False, cluster="shop")
            assert_every_task_once_in_its_final_state(
                deployment.warehouse, deployment.flower, marts=False, cluster="default"
            )


@contextmanager
def in_turn(deployment: Deployment) -> Iterator[None]:
    """The warehouse read between the runs the schedules keep launching: in a writer's turn, as they take it."""
    with exclusive_writer(deployment.warehouse, {"pid": os.getpid(), "step": "test reads"}, print, 300):
        yield


def wait_for_finished_runs(
    deployment: Deployment, wanted: dict[str, tuple[str, dict[str, str] | None]], since: float = 0.0
) -> dict[str, dg.RunRecord]:
    """For each name, the first run its schedule (with these tags) launched after `since`, once finished."""
    deadline = time.monotonic() + 600
    while True:
        first = {
            name: first_run_of(deployment.instance, schedule, tags, since)
            for name, (schedule, tags) in wanted.items()
        }
        if all(
            record is not None and record.dagster_run.status.value in FINISHED for record in first.values()
        ):
            return first
        assert time.monotonic() < deadline, deployment.log.read_text()[-4000:]
        time.sleep(2)


def first_run_of(
    instance: dg.DagsterInstance, schedule: str, tags: dict[str, str] | None, since: float
) -> dg.RunRecord | None:
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            tags={"dagster/schedule_name": schedule, **(tags or {})},
            created_after=datetime.fromtimestamp(since, UTC) if since else None,
        ),
        order_by="create_timestamp",
        ascending=True,
        limit=1,
    )
    return records[0] if records else None
