"""An estate of three real Celery clusters (each its own Redis, worker and Flower; shop on Flower 2.0.1) in one
warehouse, with the SQLFlow stand-in's lineage: the same task name fails in billing and shop at different
rates, ops runs no failing task, and every task, figure, alert and table at risk stays with its own cluster; a
cluster whose Flower stops in the middle of a capture fails only its own; clusters added later join the
warehouse beside the first. In-process runs of the real jobs, as the daemon would launch them."""

import math
import threading
from collections import Counter
from collections.abc import Iterator

import dagster as dg
import duckdb
import pytest

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import flower_tasks, run_workload, send_noop_tasks, wait_until_flower_shows_final
from tests.fixtures.deployments import deployment
from tests.fixtures.stalling_proxy import StallingProxy

pytestmark = pytest.mark.integration

CLUSTERS = ("billing", "ops", "shop")
EXTRA_SHOP_FAILURES = 3  # more etl.extract_orders failures in shop than in billing
OPS_TASKS = 30
OPS_PAGE = 10  # ops is read in pages: a capture can be caught between two
# the demo's lineage: what a failing etl.extract_orders puts at risk (dbt_project/seeds, the stand-in's SQL)
ORDERS_AT_RISK = [
    ("raw.orders", 0),
    ("staging.orders_enriched", 1),
    ("analytics.customer_ltv", 2),
    ("analytics.daily_revenue", 2),
    ("reporting.exec_dashboard", 3),
]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> Iterator[dict[str, FlowerStack]]:
    with (
        FlowerStack(tmp_path_factory.mktemp("billing")) as billing,
        FlowerStack(tmp_path_factory.mktemp("ops"), concurrency=1) as ops,
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
        wait_until_flower_shows_final(ops, send_noop_tasks(ops, OPS_TASKS))
        yield {"billing": billing, "ops": ops, "shop": shop}


@pytest.fixture(scope="module")
def sqlflow() -> Iterator[SQLFlowStandIn]:
    with SQLFlowStandIn() as standin:
        yield standin


def declare(monkeypatch, stacks: dict[str, FlowerStack], urls: dict[str, str] | None = None) -> None:
    for name, stack in stacks.items():
        prefix = f"SOURCES__FLOWER__CLUSTERS__{name.upper()}__"
        monkeypatch.setenv(f"{prefix}BASE_URL", (urls or {}).get(name, stack.base_url))
        monkeypatch.setenv(f"{prefix}USERNAME", stack.username)
        monkeypatch.setenv(f"{prefix}PASSWORD", stack.password)
    monkeypatch.setenv("SOURCES__FLOWER__CLUSTERS__OPS__PAGE_SIZE", str(OPS_PAGE))


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


def expected_alert_level(runs: int, failures: int) -> str | None:
    """dbt_project.yml's defaults on a first load (no baseline): 3 runs and 3 failures at least, and the window
    rate's Wilson lower bound (z 1.96) above 20 % for an error, 5 % for a warning."""
    if runs < 3 or failures < 3:
        return None
    rate, z = failures / runs, 1.96
    lower = (
        rate + z * z / (2 * runs) - z * math.sqrt(rate * (1 - rate) / runs + z * z / (4 * runs * runs))
    ) / (1 + z * z / runs)
    return "error" if lower > 0.20 else "warn" if lower > 0.05 else None


@pytest.fixture(scope="module")
def estate_warehouse(stacks, sqlflow, tmp_path_factory) -> str:
    """Lineage, a capture of each cluster and the marts, in a warehouse of the module's own."""
    workdir = tmp_path_factory.mktemp("estate")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DUCKDB_PATH", str(workdir / "warehouse.duckdb"))
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        for name, value in demo_source_env(stacks["billing"], sqlflow).items():
            if not name.startswith("SOURCES__FLOWER__"):
                monkeypatch.setenv(name, value)
        declare(monkeypatch, stacks)
        defs, instance = deployment("flower", "sqlflow"), dg.DagsterInstance.ephemeral()
        assert defs.resolve_job_def("sqlflow_load").execute_in_process(instance=instance).success
        for cluster in CLUSTERS:
            assert capture(defs, instance, cluster).success
        assert defs.resolve_job_def("flower_marts").execute_in_process(instance=instance).success
    return str(workdir / "warehouse.duckdb")


def test_the_same_task_name_in_two_clusters_stays_apart_in_every_mart(stacks, estate_warehouse):
    for cluster, stack in stacks.items():
        held = {uuid: task["state"] for uuid, task in flower_tasks(stack).items()}
        modelled = query(
            estate_warehouse, f"select task_id, state from marts.fct_task_runs where cluster = '{cluster}'"
        )
        assert dict(modelled) == held and len(modelled) == len(held)
        runs, failures = expected_counts(stack)
        daily = query(
            estate_warehouse,
            f"select task_name, sum(runs), sum(failures) from marts.task_failure_daily where cluster = '{cluster}' "
            "group by 1",
        )
        assert {name: (int(r), int(f)) for name, r, f in daily} == {
            name: (runs[name], failures[name]) for name in runs
        }
        [(estate_runs, estate_failures)] = query(
            estate_warehouse,
            f"select sum(runs), sum(failures) from marts.cluster_failure_daily where cluster = '{cluster}'",
        )
        assert (estate_runs, estate_failures) == (sum(runs.values()), sum(failures.values()))
        signatures = query(
            estate_warehouse,
            "select exception_type, failures from marts.task_failure_signatures "
            f"where cluster = '{cluster}' and task_name = 'etl.extract_orders'",
        )
        assert signatures == (
            [("ConnectionError", failures["etl.extract_orders"])] if cluster != "ops" else []
        )
    billing_failures = expected_counts(stacks["billing"])[1]["etl.extract_orders"]
    shop_failures = expected_counts(stacks["shop"])[1]["etl.extract_orders"]
    assert shop_failures == billing_failures + EXTRA_SHOP_FAILURES


def test_alerts_are_per_cluster_and_task_and_name_the_cluster(stacks, estate_warehouse):
    alerts = query(
        estate_warehouse,
        "select cluster, task_name, window_runs, window_failures, alert_level from marts.task_failure_alerts",
    )
    expected = set()
    for cluster, stack in stacks.items():
        runs, failures = expected_counts(stack)
        expected |= {
            (cluster, name, runs[name], failures[name], expected_alert_level(runs[name], failures[name]))
            for name in runs
        }
    assert set(alerts) == expected and len(alerts) == len(expected)
    opened = {(cluster, task) for cluster, task, *_, level in alerts if level}
    assert ("shop", "etl.extract_orders") in opened and not any(cluster == "ops" for cluster, _ in opened)


def test_tables_at_risk_are_per_cluster_from_the_one_lineage(stacks, estate_warehouse):
    def at_risk(cluster: str, task: str = "etl.extract_orders") -> list[tuple]:
        return query(
            estate_warehouse,
            "select impacted_table, depth from marts.task_failure_impact "
            f"where cluster = '{cluster}' and task_name = '{task}' order by depth, impacted_table",
        )

    assert at_risk("billing") == at_risk("shop") == ORDERS_AT_RISK
    assert query(
        estate_warehouse, "select count(*) from marts.task_failure_impact where cluster = 'ops'"
    ) == [(0,)]


def test_clusters_added_later_join_and_one_whose_flower_stops_mid_capture_fails_alone(
    stacks, monkeypatch, isolated_warehouse, fast_retries
):
    """Last in this module: it restarts ops's Flower, which then holds nothing. A wrong password and a Flower
    gone mid-capture each fail only ops's own capture, with a sentence naming the cluster and what to fix."""
    declare(monkeypatch, {"billing": stacks["billing"]})
    instance = dg.DagsterInstance.ephemeral()
    assert capture(deployment("flower"), instance, "billing").success  # one cluster so far

    with StallingProxy(stacks["ops"].base_url) as proxy:
        declare(monkeypatch, stacks, urls={"ops": proxy.base_url})  # added: the code location reloads
        defs = deployment("flower")
        assert capture(defs, instance, "shop").success
        held = {name: len(flower_tasks(stack)) for name, stack in stacks.items() if name != "ops"}

        monkeypatch.setenv("SOURCES__FLOWER__CLUSTERS__OPS__PASSWORD", "not-the-password")
        refused = next(event for event in capture(defs, instance, "ops").all_events if event.is_step_failure)
        said = refused.step_failure_data.error.to_string()
        assert f"Flower of cluster ops at {proxy.base_url} rejected the credentials (HTTP 401)" in said, said
        assert (
            "check SOURCES__FLOWER__CLUSTERS__OPS__USERNAME/SOURCES__FLOWER__CLUSTERS__OPS__PASSWORD" in said
        )
        monkeypatch.setenv("SOURCES__FLOWER__CLUSTERS__OPS__PASSWORD", stacks["ops"].password)

        def stop_ops_mid_capture() -> None:
            proxy.held.wait(timeout=120)  # ops's capture has read its first page and asks for the next
            stacks["ops"].stop_flower()
            proxy.release.set()

        stopper = threading.Thread(target=stop_ops_mid_capture)
        stopper.start()
        try:
            stopped = capture(defs, instance, "ops")
            stopper.join()
            assert capture(defs, instance, "billing").success
        finally:
            stacks["ops"].start_flower()
        failure = next(event for event in stopped.all_events if event.is_step_failure)
        error = failure.step_failure_data.error.to_string()
        assert "Flower of cluster ops" in error and "SOURCES__FLOWER__CLUSTERS__OPS__" in error, error
        # nothing of the capture that failed half-way was kept; the others' rows are all there
        assert (
            dict(query(isolated_warehouse, "select cluster, count(*) from flower.tasks group by 1")) == held
        )

        late = send_noop_tasks(stacks["ops"], 3)
        wait_until_flower_shows_final(stacks["ops"], late)
        assert capture(defs, instance, "ops").success  # a restarted Flower holds only what came since
    tasks = dict(query(isolated_warehouse, "select cluster, count(*) from flower.tasks group by 1"))
    assert tasks == {**held, "ops": 3}
