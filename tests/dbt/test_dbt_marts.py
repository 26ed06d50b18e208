"""dbt marts built from a warehouse loaded through the real dlt sources, asserted value by value.

Flower answers from pytest-httpserver: the recorded `/api/tasks` body (tasks.flaky retries and failures)
plus demo-shop tasks written in Flower's shape, and recorded worker / task type / queue bodies. SQLFlow is
the local stand-in with its demo jobs (plus a superseded job) and the demo SQL files in query mode. Both
pipelines run twice (worker and queue snapshots build a history), then one `dbt build` serves every test.
"""

import copy
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from demo.sqlflow_standin import DEMO_USER_ID, DEMO_USERS, DemoJob, SQLFlowStandIn, demo_jobs
from orchestration.warehouse.engine import make_pipeline
from sources.flower import flower_source
from sources.sqlflow import sqlflow_source
from tests.fixtures.dbt_cli import dbt
from tests.fixtures.flower_tasks_api import serve_tasks

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = (
    Path(__file__).resolve().parents[1] / "recordings" / "flower"
)  # bodies recorded from a real Flower 2.2 stack

DAY1 = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 21, tzinfo=UTC).timestamp()
HOUR = 3600.0


PAYMENT_ERROR = "ValueError(\"invalid currency 'XXX' in payment 42\")"
LTV_ERROR = "UpstreamTimeout('warehouse lock \"analytics.customer_ltv\" held (pid 4242)')"


def task(
    uuid, name, state, received, *, started=None, finished=None, runtime=None, retries=0, exception=None
):
    """A task as Flower's /api/tasks reports it (epoch seconds); `finished` lands in the state's field."""
    finished_field = {"SUCCESS": "succeeded", "FAILURE": "failed", "REVOKED": "revoked"}.get(state)
    body = {
        "uuid": uuid,
        "name": name,
        "state": state,
        "received": received,
        "started": started,
        "succeeded": None,
        "failed": None,
        "revoked": None,
        "retried": received + 0.5 if retries else None,
        "runtime": runtime,
        "retries": retries,
        "exception": exception,
        "worker": "w1@node1",
        "timestamp": finished or started or received,
        "root_id": uuid,
        "parent_id": None,
    }
    if finished_field:
        body[finished_field] = finished
    return body


TASKS = [
    # day 1 (2026-11-20)
    task(
        "t01",
        "etl.extract_orders",
        "SUCCESS",
        DAY1 + 10 * HOUR,
        started=DAY1 + 10 * HOUR + 1,
        finished=DAY1 + 10 * HOUR + 3,
        runtime=2.0,
    ),
    task(
        "t02",
        "etl.extract_orders",
        "FAILURE",
        DAY1 + 11 * HOUR,
        started=DAY1 + 11 * HOUR + 0.5,
        finished=DAY1 + 11 * HOUR + 5.5,
        exception="ConnectionError('orders API timed out')",
    ),
    task(
        "t04",
        "etl.load_payments",
        "FAILURE",
        DAY1 + 12 * HOUR,
        started=DAY1 + 12 * HOUR + 2,
        finished=DAY1 + 12 * HOUR + 3,
        exception=PAYMENT_ERROR,
    ),
    task("t14", "etl.publish_dashboard", "REVOKED", DAY1 + 13 * HOUR, finished=DAY1 + 13 * HOUR + 1),
    # day 2 (2026-11-21)
    task(
        "t03",
        "etl.extract_orders",
        "SUCCESS",
        DAY2 + 1 * HOUR,
        started=DAY2 + 1 * HOUR + 1,
        finished=DAY2 + 1 * HOUR + 5,
        runtime=4.0,
    ),
    task(
        "t05",
        "etl.load_payments",
        "FAILURE",
        DAY2 + 2 * HOUR,
        started=DAY2 + 2 * HOUR + 1,
        finished=DAY2 + 2 * HOUR + 2,
        exception=PAYMENT_ERROR,
    ),
    task(
        "t06",
        "etl.load_payments",
        "SUCCESS",
        DAY2 + 3 * HOUR,
        started=DAY2 + 3 * HOUR + 1,
        finished=DAY2 + 3 * HOUR + 2,
        runtime=1.0,
    ),
    task(
        "t07",
        "etl.enrich_orders",
        "SUCCESS",
        DAY2 + 4 * HOUR,
        started=DAY2 + 4 * HOUR + 3,
        finished=DAY2 + 4 * HOUR + 6,
        runtime=3.0,
        retries=2,
        exception="KeyError('customer_id')",
    ),
    task(
        "t08",
        "etl.enrich_orders",
        "FAILURE",
        DAY2 + 5 * HOUR,
        started=DAY2 + 5 * HOUR + 1,
        finished=DAY2 + 5 * HOUR + 2,
        retries=1,
        exception="KeyError('customer_id')",
    ),
    task(
        "t09",
        "etl.refresh_customer_ltv",
        "FAILURE",
        DAY2 + 6 * HOUR,
        started=DAY2 + 6 * HOUR + 1,
        finished=DAY2 + 6 * HOUR + 31,
        exception=LTV_ERROR,
    ),
    task(
        "t10",
        "etl.build_daily_revenue",
        "SUCCESS",
        DAY2 + 7 * HOUR,
        started=DAY2 + 7 * HOUR + 2,
        finished=DAY2 + 7 * HOUR + 10,
        runtime=8.0,
    ),
    task(
        "t12",
        "etl.extract_customers",
        "SUCCESS",
        DAY2 + 8 * HOUR,
        started=DAY2 + 8 * HOUR + 1,
        finished=DAY2 + 8 * HOUR + 1.5,
        runtime=0.5,
    ),
    # still running: the latest activity in the data, the anchor of the failure window
    task("t11", "etl.publish_dashboard", "STARTED", DAY2 + 12 * HOUR, started=DAY2 + 12 * HOUR + 1),
    # started before midnight, failed after: counts on the day it failed
    task(
        "t15",
        "etl.build_daily_revenue",
        "FAILURE",
        DAY2 - 120,
        started=DAY2 - 60,
        finished=DAY2 + 30,
        exception="celery.exceptions.SoftTimeLimitExceeded()",
    ),
    # outside the 7-day failure window
    task(
        "t13",
        "etl.refresh_customer_ltv",
        "FAILURE",
        DAY1 - 19 * 24 * HOUR,
        started=DAY1 - 19 * 24 * HOUR + 1,
        finished=DAY1 - 19 * 24 * HOUR + 61,
        exception="celery.exceptions.TimeLimitExceeded(60.0,)",
    ),
]

# a resubmission of nightly_marts older than the demo one: its lineage must not reach the marts
RETIRED_JOB = DemoJob(
    job_name="nightly_marts",
    job_id="0" * 32,
    files={
        "retired.sql": "INSERT INTO scratch.retired_target (order_id) SELECT o.order_id FROM raw.orders AS o;"
    },
    create_time="2026-11-19 02:00:00",
    last_execute_time="2026-11-19 02:00:05",
)


# exported with one edge on the first load, re-run with SQL that has no lineage before the second load:
# the re-export's empty answer must replace the old edge, not leave it behind
EMPTIED_JOB = DemoJob(
    job_name="emptied_backfill",
    job_id="e" * 32,
    files={
        "backfill.sql": "INSERT INTO scratch.emptied_target (name) SELECT c.name FROM raw.customers AS c;"
    },
    create_time="2026-11-18 01:00:00",
    last_execute_time="2026-11-18 01:00:05",
)
NO_LINEAGE_SQL = {
    "backfill.sql": "CREATE TABLE scratch.emptied_target (name text); CREATE TABLE raw.customers (name text);"
}


def recorded_body(name: str):
    return json.loads((RECORDINGS / name).read_text())["body"]


# The recorded worker reply came 23 s after the last of the 12 recorded tasks.flaky tasks (3 attempts each);
# the first load reads the worker's counter 16 s before the first of them, 36 attempts earlier.
RECORDED_WORKER_READ_AT = 1795315879.7148604
EARLIER_WORKER_READ_AT = 1795315800.0
FLAKY_ATTEMPTS = 12 * 3


def worker_reply(*, read_before_flaky: bool) -> dict:
    """The recorded /api/workers reply, or the same worker as read before the recorded flaky tasks ran."""
    body = copy.deepcopy(recorded_body("api_workers_refresh.json"))
    if read_before_flaky:
        worker = body["w1@node1"]
        worker["timestamp"] = EARLIER_WORKER_READ_AT
        worker["stats"]["uptime"] -= round(RECORDED_WORKER_READ_AT - EARLIER_WORKER_READ_AT)
        worker["stats"]["total"]["tasks.flaky"] -= FLAKY_ATTEMPTS
    return body


def serve_flower(
    server: HTTPServer,
    *,
    celery_messages: int,
    online: bool,
    workers: dict | None = None,
    tasks: dict[str, dict] | None = None,
) -> None:
    """Flower's endpoints for one load: the same tasks each time (or `tasks`, as it is at each request), a new
    worker/queue state."""
    workers = workers or worker_reply(read_before_flaky=False)
    if tasks is None:
        tasks = {**recorded_body("api_tasks_all_trimmed.json"), **{row["uuid"]: row for row in TASKS}}
    queues = copy.deepcopy(recorded_body("api_queues_length.json"))
    queues["active_queues"][0]["messages"] = celery_messages  # the recorded queues are empty
    server.clear()
    serve_tasks(server, lambda: tasks)
    server.expect_request("/api/workers", query_string="refresh=1").respond_with_json(workers)
    server.expect_request("/api/workers", query_string="status=1").respond_with_json({"w1@node1": online})
    server.expect_request(
        "/api/workers", query_string={"workername": "w1@node1", "refresh": "1"}
    ).respond_with_json(workers)
    server.expect_request("/api/task/types").respond_with_json(recorded_body("api_task_types.json"))
    server.expect_request("/api/queues/length").respond_with_json(queues)


def point_sources_at(
    monkeypatch: pytest.MonkeyPatch, flower: HTTPServer, sqlflow: SQLFlowStandIn, sql_paths: list[str]
) -> None:
    monkeypatch.setenv("SOURCES__FLOWER__BASE_URL", flower.url_for("/").rstrip("/"))
    monkeypatch.setenv("SOURCES__FLOWER__USERNAME", "taskline")
    monkeypatch.setenv("SOURCES__FLOWER__PASSWORD", "taskline-demo")
    monkeypatch.setenv("SOURCES__SQLFLOW__BASE_URL", sqlflow.base_url)
    monkeypatch.setenv("SOURCES__SQLFLOW__USER_ID", DEMO_USER_ID)
    monkeypatch.setenv("SOURCES__SQLFLOW__SECRET_KEY", DEMO_USERS[DEMO_USER_ID])
    monkeypatch.setenv("SOURCES__SQLFLOW__SQL_PATHS", json.dumps(sql_paths))


def load_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two loads of each source through the real dlt pipelines (the second re-reads and merges)."""
    jobs = [*demo_jobs(), RETIRED_JOB, EMPTIED_JOB]
    with HTTPServer() as flower, SQLFlowStandIn(jobs=jobs) as sqlflow:
        point_sources_at(monkeypatch, flower, sqlflow, ["demo/sql/*.sql"])
        for celery_messages, online, read_before_flaky in ((5, True, True), (1, False, False)):
            workers = worker_reply(read_before_flaky=read_before_flaky)
            serve_flower(flower, celery_messages=celery_messages, online=online, workers=workers)
            make_pipeline("flower").run(flower_source())
            make_pipeline("sqlflow").run(sqlflow_source())
            sqlflow.update_job(EMPTIED_JOB.job_id, files=NO_LINEAGE_SQL)


def dbt_build(workdir: Path, *selection: str) -> None:
    """`dbt build` of the whole project, or of a selection (e.g. "--select", "source:sqlflow+")."""
    dbt("build", workdir, *selection)


@pytest.fixture(scope="module")
def marts(tmp_path_factory) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a warehouse loaded by the real sources and built by `dbt build`."""
    workdir = tmp_path_factory.mktemp("dbt_marts")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(workdir)  # SQL_PATHS `demo/sql/*.sql` starts at the project, not here
        monkeypatch.setenv("DUCKDB_PATH", str(workdir / "warehouse.duckdb"))
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        load_warehouse(monkeypatch)
        dbt_build(workdir)
    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as con:
        yield con


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def rows(marts, sql: str) -> list[tuple]:
    return marts.sql(sql).fetchall()


WINDOW_END = datetime(2026, 11, 22, 2, 50, 56, 858139, tzinfo=UTC)  # the latest recorded task event


def test_fct_task_runs_has_one_row_per_task_with_timings_and_parsed_exceptions(marts):
    demo = rows(
        marts,
        """select task_id, state, finished_at, runtime_s, queue_wait_s, retries, exception_type,
                  exception_message, is_failure, is_retried, activity_day
           from marts.fct_task_runs where task_name like 'etl.%' order by task_id""",
    )
    assert demo == [
        (
            "t01",
            "SUCCESS",
            at(DAY1 + 10 * HOUR + 3),
            2.0,
            1.0,
            0,
            None,
            None,
            False,
            False,
            date(2026, 11, 20),
        ),
        (
            "t02",
            "FAILURE",
            at(DAY1 + 11 * HOUR + 5.5),
            5.0,
            0.5,
            0,
            "ConnectionError",
            "orders API timed out",
            True,
            False,
            date(2026, 11, 20),
        ),
        ("t03", "SUCCESS", at(DAY2 + HOUR + 5), 4.0, 1.0, 0, None, None, False, False, date(2026, 11, 21)),
        (
            "t04",
            "FAILURE",
            at(DAY1 + 12 * HOUR + 3),
            1.0,
            2.0,
            0,
            "ValueError",
            "invalid currency 'XXX' in payment 42",
            True,
            False,
            date(2026, 11, 20),
        ),
        (
            "t05",
            "FAILURE",
            at(DAY2 + 2 * HOUR + 2),
            1.0,
            1.0,
            0,
            "ValueError",
            "invalid currency 'XXX' in payment 42",
            True,
            False,
            date(2026, 11, 21),
        ),
        (
            "t06",
            "SUCCESS",
            at(DAY2 + 3 * HOUR + 2),
            1.0,
            1.0,
            0,
            None,
            None,
            False,
            False,
            date(2026, 11, 21),
        ),
        # a success that retried keeps the exception of its last retry
        (
            "t07",
            "SUCCESS",
            at(DAY2 + 4 * HOUR + 6),
            3.0,
            3.0,
            2,
            "KeyError",
            "customer_id",
            False,
            True,
            date(2026, 11, 21),
        ),
        (
            "t08",
            "FAILURE",
            at(DAY2 + 5 * HOUR + 2),
            1.0,
            1.0,
            1,
            "KeyError",
            "customer_id",
            True,
            True,
            date(2026, 11, 21),
        ),
        (
            "t09",
            "FAILURE",
            at(DAY2 + 6 * HOUR + 31),
            30.0,
            1.0,
            0,
            "UpstreamTimeout",
            'warehouse lock "analytics.customer_ltv" held (pid 4242)',
            True,
            False,
            date(2026, 11, 21),
        ),
        (
            "t10",
            "SUCCESS",
            at(DAY2 + 7 * HOUR + 10),
            8.0,
            2.0,
            0,
            None,
            None,
            False,
            False,
            date(2026, 11, 21),
        ),
        ("t11", "STARTED", None, None, 1.0, 0, None, None, False, False, date(2026, 11, 21)),
        (
            "t12",
            "SUCCESS",
            at(DAY2 + 8 * HOUR + 1.5),
            0.5,
            1.0,
            0,
            None,
            None,
            False,
            False,
            date(2026, 11, 21),
        ),
        (
            "t13",
            "FAILURE",
            at(DAY1 - 19 * 24 * HOUR + 61),
            60.0,
            1.0,
            0,
            "TimeLimitExceeded",
            "60.0",
            True,
            False,
            date(2026, 11, 1),
        ),
        (
            "t14",
            "REVOKED",
            at(DAY1 + 13 * HOUR + 1),
            None,
            None,
            0,
            None,
            None,
            False,
            False,
            date(2026, 11, 20),
        ),
        (
            "t15",
            "FAILURE",
            at(DAY2 + 30),
            90.0,
            60.0,
            0,
            "SoftTimeLimitExceeded",
            None,
            True,
            False,
            date(2026, 11, 21),
        ),
    ]
    assert rows(marts, "select exception_class_path from marts.fct_task_runs where task_id = 't13'") == [
        ("celery.exceptions.TimeLimitExceeded",)
    ]
    flaky = rows(
        marts,
        """select state, exception_type, count(*), sum(retries), count(*) filter (where runtime_s > 0)
           from marts.fct_task_runs where task_name = 'tasks.flaky' group by all order by all""",
    )
    assert flaky == [("FAILURE", "ValueError", 6, 12, 6), ("SUCCESS", "RuntimeError", 6, 12, 6)]
    assert rows(marts, "select count(*), count(distinct task_id) from marts.fct_task_runs") == [(27, 27)]


def test_task_failure_daily_counts_runs_on_the_utc_day_they_finished(marts):
    daily = rows(
        marts,
        """select day, task_name, runs, failures, failure_rate, retried_runs, p50_runtime_s, p95_runtime_s
           from marts.task_failure_daily order by day, task_name""",
    )
    assert daily == [
        # time-limited runs count in no runtime percentile (the limit cut them short)
        (date(2026, 11, 1), "etl.refresh_customer_ltv", 1, 1, 1.0, 0, None, None),
        (date(2026, 11, 20), "etl.extract_orders", 2, 1, 0.5, 0, 3.5, pytest.approx(4.85)),
        (date(2026, 11, 20), "etl.load_payments", 1, 1, 1.0, 0, 1.0, 1.0),
        (date(2026, 11, 20), "etl.publish_dashboard", 1, 0, 0.0, 0, None, None),
        # t15 started on the 20th and failed on the 21st, by its soft time limit: its 90 s are no runtime
        (date(2026, 11, 21), "etl.build_daily_revenue", 2, 1, 0.5, 0, 8.0, 8.0),
        (date(2026, 11, 21), "etl.enrich_orders", 2, 1, 0.5, 2, 2.0, pytest.approx(2.9)),
        (date(2026, 11, 21), "etl.extract_customers", 1, 0, 0.0, 0, 0.5, 0.5),
        (date(2026, 11, 21), "etl.extract_orders", 1, 0, 0.0, 0, 4.0, 4.0),
        (date(2026, 11, 21), "etl.load_payments", 2, 1, 0.5, 0, 1.0, 1.0),
        (date(2026, 11, 21), "etl.publish_dashboard", 1, 0, 0.0, 0, None, None),
        (date(2026, 11, 21), "etl.refresh_customer_ltv", 1, 1, 1.0, 0, 30.0, 30.0),
        (
            date(2026, 11, 22),
            "tasks.flaky",
            12,
            6,
            0.5,
            12,
            pytest.approx(0.0058585, abs=1e-7),
            pytest.approx(0.0324951, abs=1e-7),
        ),
    ]
    assert rows(
        marts,
        "select successes, unfinished_runs from marts.task_failure_daily where day = '2026-11-21' "
        "and task_name = 'etl.publish_dashboard'",
    ) == [(0, 1)]


def test_task_failure_signatures_group_failures_by_exception_class(marts):
    signatures = rows(
        marts,
        """select task_name, exception_type, failures, first_seen_at, last_seen_at, sample_message
           from marts.task_failure_signatures order by task_name, exception_type""",
    )
    flaky_failed = [
        row[0]
        for row in rows(
            marts,
            "select finished_at from marts.fct_task_runs where task_name = 'tasks.flaky' and is_failure order by 1",
        )
    ]
    assert signatures == [
        ("etl.build_daily_revenue", "SoftTimeLimitExceeded", 1, at(DAY2 + 30), at(DAY2 + 30), None),
        ("etl.enrich_orders", "KeyError", 1, at(DAY2 + 5 * HOUR + 2), at(DAY2 + 5 * HOUR + 2), "customer_id"),
        (
            "etl.extract_orders",
            "ConnectionError",
            1,
            at(DAY1 + 11 * HOUR + 5.5),
            at(DAY1 + 11 * HOUR + 5.5),
            "orders API timed out",
        ),
        (
            "etl.load_payments",
            "ValueError",
            2,
            at(DAY1 + 12 * HOUR + 3),
            at(DAY2 + 2 * HOUR + 2),
            "invalid currency 'XXX' in payment 42",
        ),
        (
            "etl.refresh_customer_ltv",
            "TimeLimitExceeded",
            1,
            at(DAY1 - 19 * 24 * HOUR + 61),
            at(DAY1 - 19 * 24 * HOUR + 61),
            "60.0",
        ),
        (
            "etl.refresh_customer_ltv",
            "UpstreamTimeout",
            1,
            at(DAY2 + 6 * HOUR + 31),
            at(DAY2 + 6 * HOUR + 31),
            'warehouse lock "analytics.customer_ltv" held (pid 4242)',
        ),
        ("tasks.flaky", "ValueError", 6, flaky_failed[0], flaky_failed[-1], "flaky gave up n=297"),
    ]
    assert len(flaky_failed) == 6


def test_lineage_table_edges_link_real_tables_from_jobs_and_sql_files(marts):
    edges = rows(
        marts,
        "select source_table, target_table, origin_kind, origin_name from marts.lineage_table_edges order by all",
    )
    demo_edges = [
        (
            "analytics.customer_ltv",
            "reporting.exec_dashboard",
            "demo/sql/exec_dashboard.sql",
            "reporting_views",
        ),
        (
            "analytics.daily_revenue",
            "reporting.exec_dashboard",
            "demo/sql/exec_dashboard.sql",
            "reporting_views",
        ),
        ("raw.customers", "staging.orders_enriched", "demo/sql/orders_enriched.sql", "nightly_marts"),
        ("raw.orders", "staging.orders_enriched", "demo/sql/orders_enriched.sql", "nightly_marts"),
        ("raw.payments", "analytics.daily_revenue", "demo/sql/daily_revenue.sql", "nightly_marts"),
        ("staging.orders_enriched", "analytics.customer_ltv", "demo/sql/customer_ltv.sql", "nightly_marts"),
        ("staging.orders_enriched", "analytics.daily_revenue", "demo/sql/daily_revenue.sql", "nightly_marts"),
    ]
    expected = [
        (source, target, kind, origin)
        for source, target, sql_file, job in demo_edges
        for kind, origin in (("job", job), ("sql_file", sql_file))
    ] + [
        ("scratch.payment_recon_a", "scratch.payment_recon_b", "job", "finance_partial"),
        ("scratch.payment_recon_b", "scratch.payment_recon_a", "job", "finance_partial"),
    ]
    assert edges == sorted(expected)


def test_lineage_column_edges_resolve_intermediates_and_drop_pseudo_columns(marts):
    assert rows(
        marts,
        """select source_table, source_column, target_table, target_column from marts.lineage_column_edges
           where origin = 'demo/sql/orders_enriched.sql' order by all""",
    ) == [
        ("raw.customers", "country", "staging.orders_enriched", "country"),
        ("raw.customers", "name", "staging.orders_enriched", "customer_name"),
        ("raw.orders", "amount", "staging.orders_enriched", "amount"),
        ("raw.orders", "customer_id", "staging.orders_enriched", "customer_id"),
        ("raw.orders", "order_date", "staging.orders_enriched", "order_date"),
        ("raw.orders", "order_id", "staging.orders_enriched", "order_id"),
        ("raw.orders", "status", "staging.orders_enriched", "status"),
    ]
    per_origin = rows(
        marts, "select origin_name, count(*) from marts.lineage_column_edges group by all order by all"
    )
    assert per_origin == [
        ("demo/sql/customer_ltv.sql", 6),
        ("demo/sql/daily_revenue.sql", 5),
        ("demo/sql/exec_dashboard.sql", 6),
        ("demo/sql/orders_enriched.sql", 7),
        ("finance_partial", 4),
        ("nightly_marts", 18),
        ("reporting_views", 6),
    ]
    leftovers = rows(
        marts,
        r"""select count(*) from marts.lineage_column_edges
            where regexp_matches(source_table || ' ' || target_table, '(^|\s)(rs-|insert-select-|query |default)')
               or lower(source_column) in ('pseudorows', 'relationrows')
               or source_table <> lower(source_table) or target_table <> lower(target_table)""",
    )
    assert leftovers == [(0,)]


def test_superseded_and_failed_jobs_leave_no_lineage(marts):
    tables = rows(
        marts,
        """select distinct source_table from marts.lineage_column_edges
           union select distinct target_table from marts.lineage_column_edges order by 1""",
    )
    assert ("scratch.retired_target",) not in tables  # the older nightly_marts job
    assert ("scratch.broken_upload_target",) not in tables  # a failed job is never exported
    assert ("scratch.emptied_target",) not in tables  # its latest export has no lineage
    assert rows(
        marts, "select count(distinct origin) from marts.lineage_column_edges where origin_kind = 'job'"
    ) == [(3,)]


def test_a_re_export_replaces_every_row_of_the_export_before_it(marts):
    """The re-run job's new export has objects but no relationships: none of the old ones may survive."""

    def staged(model: str) -> list[tuple]:
        return rows(marts, f"select count(*) from staging.{model} where origin = '{EMPTIED_JOB.job_id}'")

    assert staged("stg_sqlflow__lineage_objects") == [(2,)]
    assert staged("stg_sqlflow__lineage_relationships") == [(0,)]


def test_lineage_impact_is_the_shortest_path_closure_and_survives_a_cycle(marts):
    assert rows(
        marts, "select table_name, downstream_table, depth from marts.lineage_impact order by all"
    ) == [
        ("analytics.customer_ltv", "reporting.exec_dashboard", 1),
        ("analytics.daily_revenue", "reporting.exec_dashboard", 1),
        ("raw.customers", "analytics.customer_ltv", 2),
        ("raw.customers", "analytics.daily_revenue", 2),
        ("raw.customers", "reporting.exec_dashboard", 3),
        ("raw.customers", "staging.orders_enriched", 1),
        ("raw.orders", "analytics.customer_ltv", 2),
        ("raw.orders", "analytics.daily_revenue", 2),
        ("raw.orders", "reporting.exec_dashboard", 3),
        ("raw.orders", "staging.orders_enriched", 1),
        ("raw.payments", "analytics.daily_revenue", 1),
        ("raw.payments", "reporting.exec_dashboard", 2),
        ("scratch.payment_recon_a", "scratch.payment_recon_b", 1),
        ("scratch.payment_recon_b", "scratch.payment_recon_a", 1),
        ("staging.orders_enriched", "analytics.customer_ltv", 1),
        ("staging.orders_enriched", "analytics.daily_revenue", 1),
        ("staging.orders_enriched", "reporting.exec_dashboard", 2),
    ]


# ---- SQL files deleted (and one restored): their lineage leaves the marts, and comes back ----------------

DELETED_FILE = "exec_dashboard.sql"  # the only origin of every edge into reporting.exec_dashboard
RESTORED_FILE = "daily_revenue.sql"  # deleted with it, restored before the next dbt build


def lineage_snapshot(warehouse: Path, sql_dir: Path) -> dict[str, list[tuple]]:
    """What the marts and the raw tables say about the two files and the table DELETED_FILE writes."""
    deleted, restored = f"{sql_dir}/{DELETED_FILE}", f"{sql_dir}/{RESTORED_FILE}"
    queries = {
        "deleted_table_edges": f"""select source_table, target_table from marts.lineage_table_edges
                                   where origin = '{deleted}' order by all""",
        "deleted_column_edges": f"select count(*) from marts.lineage_column_edges where origin = '{deleted}'",
        "impact": """select table_name, depth from marts.lineage_impact
                     where downstream_table = 'reporting.exec_dashboard' order by all""",
        "failure_impact": """select task_name, depth from marts.task_failure_impact
                             where impacted_table = 'reporting.exec_dashboard' order by all""",
        "restored_table_edges": f"""select source_table, target_table from marts.lineage_table_edges
                                    where origin = '{restored}' order by all""",
        "origins": "select distinct origin from marts.lineage_table_edges order by all",
        "raw_summaries": """select sql_file, retired_at is not null, response_code, relationships
                            from sqlflow.query_lineage order by all""",
        "raw_relationships": f"""select count(*) from sqlflow.query_lineage_relationships
                                 where sql_file = '{deleted}'""",
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {name: con.sql(sql).fetchall() for name, sql in queries.items()}


@pytest.fixture(scope="module")
def retirement(tmp_path_factory) -> tuple[Path, dict[str, dict[str, list[tuple]]]]:
    """The demo SQL files (no jobs) in a directory of their own: loaded and built; then DELETED_FILE and
    RESTORED_FILE deleted and loaded, RESTORED_FILE put back and loaded, and built again. Returns the
    directory and the lineage snapshots: `before`, `between` (the two loads, raw tables only), `after`."""
    workdir = tmp_path_factory.mktemp("dbt_retirement")
    warehouse = workdir / "warehouse.duckdb"
    sql_dir = workdir / "sql"
    sql_dir.mkdir()
    for path in (ROOT / "demo" / "sql").glob("*.sql"):
        shutil.copy(path, sql_dir)
    restored_sql = (sql_dir / RESTORED_FILE).read_text()
    # the lineage marts and task_failure_impact with all they need, then only what the SQLFlow load changes
    first_build = ("--select", "+task_failure_impact", "--indirect-selection", "cautious")
    lineage_build = ("--select", "source:sqlflow+", "--indirect-selection", "cautious")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        HTTPServer() as flower,
        SQLFlowStandIn(jobs=[]) as sqlflow,
    ):
        monkeypatch.setenv("DUCKDB_PATH", str(warehouse))
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        point_sources_at(monkeypatch, flower, sqlflow, [f"{sql_dir}/*.sql"])
        serve_flower(flower, celery_messages=0, online=True)
        make_pipeline("flower").run(flower_source())  # the failing tasks of task_failure_impact
        make_pipeline("sqlflow").run(sqlflow_source())
        dbt_build(workdir, *first_build)
        before = lineage_snapshot(warehouse, sql_dir)

        (sql_dir / DELETED_FILE).unlink()
        (sql_dir / RESTORED_FILE).unlink()
        make_pipeline("sqlflow").run(sqlflow_source())
        between = lineage_snapshot(warehouse, sql_dir)
        (sql_dir / RESTORED_FILE).write_text(restored_sql)
        make_pipeline("sqlflow").run(sqlflow_source())
        dbt_build(workdir, *lineage_build)
        after = lineage_snapshot(warehouse, sql_dir)
    return sql_dir, {"before": before, "between": between, "after": after}


def test_a_deleted_sql_file_leaves_the_lineage_marts_after_the_next_load(retirement):
    sql_dir, snapshots = retirement
    before, after = snapshots["before"], snapshots["after"]
    assert before["deleted_table_edges"] == [
        ("analytics.customer_ltv", "reporting.exec_dashboard"),
        ("analytics.daily_revenue", "reporting.exec_dashboard"),
    ]
    assert before["deleted_column_edges"] == [(6,)]
    assert before["impact"] == [
        ("analytics.customer_ltv", 1),
        ("analytics.daily_revenue", 1),
        ("raw.customers", 3),
        ("raw.orders", 3),
        ("raw.payments", 2),
        ("staging.orders_enriched", 2),
    ]
    assert before["failure_impact"] == [
        ("etl.build_daily_revenue", 1),
        ("etl.enrich_orders", 2),
        ("etl.extract_orders", 3),
        ("etl.load_payments", 2),
        ("etl.refresh_customer_ltv", 1),
    ]

    assert after["deleted_table_edges"] == [] and after["deleted_column_edges"] == [(0,)]
    assert after["impact"] == [] and after["failure_impact"] == []
    demo_files = sorted(f"{sql_dir}/{path.name}" for path in (ROOT / "demo" / "sql").glob("*.sql"))
    assert before["origins"] == [(origin,) for origin in demo_files]
    assert after["origins"] == [(origin,) for origin in demo_files if not origin.endswith(DELETED_FILE)]
    # the raw rows stay as history, flagged through the summary row
    assert after["raw_relationships"] == before["raw_relationships"] == [(12,)]


def test_a_restored_sql_file_is_back_in_the_marts_and_no_longer_retired(retirement):
    sql_dir, snapshots = retirement
    before, between, after = snapshots["before"], snapshots["between"], snapshots["after"]

    def summaries(retired: set[str]) -> list[tuple]:
        counts = {
            "customer_ltv.sql": 18,
            "daily_revenue.sql": 10,
            "exec_dashboard.sql": 12,
            "orders_enriched.sql": 14,
        }
        return [
            (f"{sql_dir}/{name}", name in retired, 203 if name == DELETED_FILE else 200, relationships)
            for name, relationships in counts.items()
        ]

    assert before["raw_summaries"] == summaries(retired=set())
    assert between["raw_summaries"] == summaries(retired={DELETED_FILE, RESTORED_FILE})
    assert after["raw_summaries"] == summaries(retired={DELETED_FILE})
    assert (
        after["restored_table_edges"]
        == before["restored_table_edges"]
        == [
            ("raw.payments", "analytics.daily_revenue"),
            ("staging.orders_enriched", "analytics.daily_revenue"),
        ]
    )


def test_task_failure_impact_lists_written_and_downstream_tables_of_recent_failures(marts):
    impact = rows(
        marts,
        """select task_name, impacted_table, depth, written_table, failures, last_failure_at
           from marts.task_failure_impact order by task_name, depth, impacted_table""",
    )
    revenue = ("etl.build_daily_revenue", "analytics.daily_revenue", 1, at(DAY2 + 30))
    enrich = ("etl.enrich_orders", "staging.orders_enriched", 1, at(DAY2 + 5 * HOUR + 2))
    extract = ("etl.extract_orders", "raw.orders", 1, at(DAY1 + 11 * HOUR + 5.5))
    payments = ("etl.load_payments", "raw.payments", 2, at(DAY2 + 2 * HOUR + 2))
    # t13's failure is 21 days before the latest activity: outside the 7-day window
    ltv = ("etl.refresh_customer_ltv", "analytics.customer_ltv", 1, at(DAY2 + 6 * HOUR + 31))

    def reached(failing, *tables_by_depth):
        task_name, written, failures, last = failing
        return [(task_name, table, depth, written, failures, last) for table, depth in tables_by_depth]

    assert impact == [
        *reached(revenue, ("analytics.daily_revenue", 0), ("reporting.exec_dashboard", 1)),
        *reached(
            enrich,
            ("staging.orders_enriched", 0),
            ("analytics.customer_ltv", 1),
            ("analytics.daily_revenue", 1),
            ("reporting.exec_dashboard", 2),
        ),
        *reached(
            extract,
            ("raw.orders", 0),
            ("staging.orders_enriched", 1),
            ("analytics.customer_ltv", 2),
            ("analytics.daily_revenue", 2),
            ("reporting.exec_dashboard", 3),
        ),
        *reached(
            payments, ("raw.payments", 0), ("analytics.daily_revenue", 1), ("reporting.exec_dashboard", 2)
        ),
        *reached(ltv, ("analytics.customer_ltv", 0), ("reporting.exec_dashboard", 1)),
    ]
    assert rows(marts, "select distinct window_start_at, window_end_at from marts.task_failure_impact") == [
        (datetime(2026, 11, 15, 2, 50, 56, 858139, tzinfo=UTC), WINDOW_END)
    ]


def test_worker_and_queue_history_come_from_the_snapshots(marts):
    assert rows(
        marts,
        """select worker, snapshots, online_ratio, is_online, pool_max_concurrency, queues, processed_total
           from marts.dim_workers""",
    ) == [("w1@node1", 2, 0.5, False, 2, "celery,q2", 423)]
    assert rows(
        marts,
        "select worker, sum(snapshots), sum(online_snapshots) from marts.worker_health_hourly group by all",
    ) == [("w1@node1", 2, 1)]
    assert rows(
        marts,
        """select queue_name, sum(snapshots), max(max_messages), arg_max(last_messages, hour)
           from marts.queue_backlog_hourly group by all order by all""",
    ) == [("celery", 2, 5, 1), ("q2", 2, 0, 0)]
    assert rows(marts, "select distinct registered_tasks from staging.stg_flower__worker_snapshots") == [
        ("tasks.add,tasks.fail,tasks.flaky,tasks.noop,tasks.sleep",)
    ]


def test_processed_attempts_are_counted_between_consecutive_worker_snapshots(marts):
    """The counter grew by the 36 attempts of the recorded flaky tasks between the two readings."""
    assert rows(
        marts,
        """select worker, is_restart, processed_in_interval, counted_from_at, counted_until_at
           from intermediate.int_worker_snapshot_intervals""",
    ) == [("w1@node1", False, FLAKY_ATTEMPTS, at(EARLIER_WORKER_READ_AT), at(RECORDED_WORKER_READ_AT))]
    assert rows(marts, "select sum(processed_in_hour) from marts.worker_health_hourly") == [(FLAKY_ATTEMPTS,)]


def test_task_coverage_finds_every_counted_attempt_in_the_warehouse(marts):
    assert rows(
        marts,
        """select attempts_processed, attempts_loaded, attempts_lost, attempts_beyond_counter,
                  ends_at_latest_snapshot
           from intermediate.int_worker_interval_coverage""",
    ) == [(FLAKY_ATTEMPTS, FLAKY_ATTEMPTS, 0, 0, True)]
    assert rows(
        marts,
        """select worker, sum(intervals), sum(attempts_processed), sum(attempts_loaded), sum(attempts_lost),
                  min(coverage)
           from marts.task_coverage_hourly group by all""",
    ) == [("w1@node1", 1, FLAKY_ATTEMPTS, FLAKY_ATTEMPTS, 0, 1.0)]


@pytest.mark.parametrize(("demo_shop", "tasks_mapped"), [("false", 0), ("true", 7)])
def test_a_deployment_seeds_its_own_empty_map_and_the_demo_the_demo_shops(
    tmp_path, monkeypatch, demo_shop, tasks_mapped
):
    """The demo shop's task-to-table map never ships as the product's seed."""
    monkeypatch.setenv("TASKLINE_DEMO_SHOP", demo_shop)
    warehouse = tmp_path / "warehouse.duckdb"
    dbt("seed", tmp_path, warehouse=warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from seeds.task_table_map").fetchone() == (tasks_mapped,)
