"""dbt marts built from a warehouse loaded through the real dlt sources, asserted value by value.

Flower answers from pytest-httpserver: the recorded `/api/tasks` body (tasks.flaky retries and failures)
plus demo-shop tasks written in Flower's shape, and recorded worker / task type / queue bodies. SQLFlow is
the local stand-in with its demo jobs (plus a superseded job) and the demo SQL files in query mode. Both
pipelines run twice (worker and queue snapshots build a history), then one `dbt build` serves every test
(tests/fixtures/demo_tasks.py and tests/fixtures/marts_sources.py hold the tasks and the load).
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import duckdb
import pytest

from tests.fixtures.dbt_cli import dbt, dbt_build
from tests.fixtures.demo_tasks import DAY1, DAY2, HOUR
from tests.fixtures.marts_sources import (
    EARLIER_WORKER_READ_AT,
    EMPTIED_JOB,
    FLAKY_ATTEMPTS,
    RECORDED_WORKER_READ_AT,
    load_warehouse,
)

pytestmark = pytest.mark.integration


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


DEMO_RUNS = """select task_id, state, finished_at, runtime_s, queue_wait_s, retries, exception_type,
                  exception_message, is_failure, is_retried, activity_day
           from marts.fct_task_runs where task_name like 'etl.%' order by task_id"""


def demo_runs(marts, *task_ids: str) -> list[tuple]:
    """The rows of DEMO_RUNS for `task_ids`, in that order (the test of one row per task checks the rest)."""
    by_task = {row[0]: row for row in rows(marts, DEMO_RUNS)}
    return [by_task[task_id] for task_id in task_ids]


def test_fct_task_runs_has_one_row_per_task(marts):
    assert [row[0] for row in rows(marts, DEMO_RUNS)] == [
        "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10", "t11", "t12", "t13", "t14", "t15"
    ]  # fmt: skip
    assert rows(marts, "select count(*), count(distinct task_id) from marts.fct_task_runs") == [(27, 27)]


def test_fct_task_runs_gives_successes_their_runtime_queue_wait_and_day(marts):
    assert demo_runs(marts, "t01", "t03", "t06", "t07", "t10", "t12") == [
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
        ("t03", "SUCCESS", at(DAY2 + HOUR + 5), 4.0, 1.0, 0, None, None, False, False, date(2026, 11, 21)),
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
    ]


def test_fct_task_runs_parses_the_exception_type_and_message_of_failures(marts):
    assert demo_runs(marts, "t02", "t04", "t05", "t08", "t09") == [
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
    ]


def test_fct_task_runs_names_the_time_limit_that_ended_a_run_and_its_day(marts):
    """t13 hit the hard limit; t15 started before midnight and failed after, on its soft limit."""
    assert demo_runs(marts, "t13", "t15") == [
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


def test_fct_task_runs_keeps_runs_without_a_runtime_unfinished_or_revoked(marts):
    assert demo_runs(marts, "t11", "t14") == [
        ("t11", "STARTED", None, None, 1.0, 0, None, None, False, False, date(2026, 11, 21)),
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
    ]


def test_fct_task_runs_counts_the_recorded_flaky_tasks_by_outcome_and_retries(marts):
    flaky = rows(
        marts,
        """select state, exception_type, count(*), sum(retries), count(*) filter (where runtime_s > 0)
           from marts.fct_task_runs where task_name = 'tasks.flaky' group by all order by all""",
    )
    assert flaky == [("FAILURE", "ValueError", 6, 12, 6), ("SUCCESS", "RuntimeError", 6, 12, 6)]


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


@pytest.mark.parametrize(("demo_shop", "rows"), [("false", (0, 0, 0)), ("true", (8, 1, 7))])
def test_a_deployment_seeds_its_own_empty_files_and_the_demo_the_demo_shops(
    tmp_path, monkeypatch, demo_shop, rows
):
    """The demo shop's task-to-table map, schedules and owners never ship as the product's seeds."""
    monkeypatch.setenv("TASKLINE_DEMO_SHOP", demo_shop)
    warehouse = tmp_path / "warehouse.duckdb"
    dbt("seed", tmp_path, warehouse=warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counts = [
            con.execute(f"select count(*) from seeds.{seed}").fetchone()[0]
            for seed in ("task_table_map", "task_schedules", "task_owners")
        ]
    assert tuple(counts) == rows
