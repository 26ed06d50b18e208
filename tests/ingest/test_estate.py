"""An estate of two real Celery clusters (each its own Redis, worker and Flower; shop on Flower 2.0.1) in one
warehouse: the same task name fails in both at different rates, and every task and figure stays with its own
cluster; a cluster whose Flower stops fails only its own capture; a cluster added later joins the warehouse
beside the others. In-process runs of the real jobs, as the daemon would launch them."""

from collections import Counter
from collections.abc import Iterator

import dagster as dg
import duckdb
import pytest

from demo.stack import FlowerStack
from demo.workload import flower_tasks, run_workload, wait_until_flower_shows_final
from tests.fixtures.deployments import deployment

pytestmark = pytest.mark.integration

CLUSTERS = ("billing", "shop")
EXTRA_SHOP_FAILURES = 3  # more etl.extract_orders failures in shop than in billing


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> Iterator[dict[str, FlowerStack]]:
    with (
        FlowerStack(tmp_path_factory.mktemp("billing")) as billing,
        FlowerStack(tmp_path_factory.mktemp("shop"), flower_release="2.0.1") as shop,
    ):
        for stack in (billing, shop):
            run_workload(stack)
        client = shop.celery()
        failing = [
            client.send_task("etl.extract_orders", args=(900 + n,), kwargs={"region": "apac"}).id
            for n in range(EXTRA_SHOP_FAILURES)
        ]
        wait_until_flower_shows_final(shop, failing)
        yield {"billing": billing, "shop": shop}


def declare(monkeypatch, stacks: dict[str, FlowerStack]) -> None:
    for name, stack in stacks.items():
        prefix = f"SOURCES__FLOWER__CLUSTERS__{name.upper()}__"
        monkeypatch.setenv(f"{prefix}BASE_URL", stack.base_url)
        monkeypatch.setenv(f"{prefix}USERNAME", stack.username)
        monkeypatch.setenv(f"{prefix}PASSWORD", stack.password)


def capture(defs: dg.Definitions, instance: dg.DagsterInstance, cluster: str) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("flower_capture")
    return job.execute_in_process(instance=instance, partition_key=cluster, raise_on_error=False)


def query(warehouse, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def expected_counts(stack: FlowerStack) -> tuple[Counter, Counter]:
    """Runs and failures per task name, as Flower holds them."""
    tasks = flower_tasks(stack).values()
    runs = Counter(task["name"] for task in tasks)
    failures = Counter(task["name"] for task in tasks if task["state"] == "FAILURE")
    return runs, failures


def test_the_same_task_name_in_two_clusters_stays_apart_in_every_mart(
    stacks, monkeypatch, isolated_warehouse
):
    declare(monkeypatch, stacks)
    defs, instance = deployment("flower"), dg.DagsterInstance.ephemeral()
    for cluster in CLUSTERS:
        assert capture(defs, instance, cluster).success
    assert defs.resolve_job_def("flower_marts").execute_in_process(instance=instance).success

    for cluster, stack in stacks.items():
        held = {uuid: task["state"] for uuid, task in flower_tasks(stack).items()}
        modelled = query(
            isolated_warehouse, f"select task_id, state from marts.fct_task_runs where cluster = '{cluster}'"
        )
        assert dict(modelled) == held and len(modelled) == len(held)
        runs, failures = expected_counts(stack)
        daily = query(
            isolated_warehouse,
            f"select task_name, sum(runs), sum(failures) from marts.task_failure_daily where cluster = '{cluster}' "
            "group by 1",
        )
        assert {name: (int(r), int(f)) for name, r, f in daily} == {
            name: (runs[name], failures[name]) for name in runs
        }
        [(estate_runs, estate_failures)] = query(
            isolated_warehouse,
            f"select sum(runs), sum(failures) from marts.cluster_failure_daily where cluster = '{cluster}'",
        )
        assert (estate_runs, estate_failures) == (sum(runs.values()), sum(failures.values()))
        signatures = query(
            isolated_warehouse,
            "select exception_type, failures from marts.task_failure_signatures "
            f"where cluster = '{cluster}' and task_name = 'etl.extract_orders'",
        )
        assert signatures == [("ConnectionError", failures["etl.extract_orders"])]
    billing_failures = expected_counts(stacks["billing"])[1]["etl.extract_orders"]
    shop_failures = expected_counts(stacks["shop"])[1]["etl.extract_orders"]
    assert shop_failures == billing_failures + EXTRA_SHOP_FAILURES


def test_a_cluster_added_later_joins_and_one_whose_flower_stops_fails_alone(
    stacks, monkeypatch, isolated_warehouse, fast_retries
):
    """Last in this module: it restarts shop's Flower, which then holds nothing."""
    declare(monkeypatch, {"billing": stacks["billing"]})
    instance = dg.DagsterInstance.ephemeral()
    assert capture(deployment("flower"), instance, "billing").success  # one cluster so far

    declare(monkeypatch, stacks)  # shop added to the running deployment: its code location reloads
    defs = deployment("flower")
    assert capture(defs, instance, "shop").success
    held = {name: len(flower_tasks(stack)) for name, stack in stacks.items()}
    stacks["shop"].stop_flower()
    try:
        stopped = capture(defs, instance, "shop")
        assert capture(defs, instance, "billing").success
    finally:
        stacks["shop"].start_flower()
    failure = next(event for event in stopped.all_events if event.is_step_failure)
    assert "cannot reach Flower of cluster shop at " in failure.step_failure_data.error.to_string()
    assert "Check SOURCES__FLOWER__CLUSTERS__SHOP__BASE_URL." in failure.step_failure_data.error.to_string()

    assert capture(defs, instance, "shop").success  # a restarted Flower holds nothing: shop's history stays
    assert dict(query(isolated_warehouse, "select cluster, count(*) from flower.tasks group by 1")) == held
