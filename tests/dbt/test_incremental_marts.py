"""Incremental task marts equal a full refresh, load after load, also after a killed or partial build.

Flower is emulated over real HTTP (pytest-httpserver, tests/fixtures/flower_tasks_api.py) and every load runs
the real dlt pipeline, so each change reaches the warehouse as in production: merged on uuid under a new load
id. Tasks of 20-21 Nov 2026 lie before the incremental walk's line (on a clock past those days): a load reads
them again only while they are in flight (or have no received time); tasks received minutes ago are read by
every load. After each load
`dbt build` runs incrementally; a copy of the warehouse is then rebuilt with --full-refresh and every table
of schema `marts` compared with EXCEPT ALL both ways.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from orchestration.warehouse.pipelines import make_pipeline
from sources.flower import flower_source
from tests.fixtures.dbt_cli import (
    DBT_DIR,
    change_logs,
    dbt,
    dbt_command,
    dbt_env,
    incremental_models,
    run_dbt,
)
from tests.fixtures.demo_tasks import DAY1, DAY2, HOUR, LTV_ERROR, PAYMENT_ERROR, task
from tests.fixtures.marts_sources import serve_flower

pytestmark = pytest.mark.integration

DAY3 = DAY2 + 24 * HOUR
FLOWER_BUILD = ("--select", "source:flower+")  # the models a Flower load refreshes


def unreceived(flower_task: dict) -> dict:
    """The task as Flower knows it when it first saw it mid-flight (e.g. after a restart): no received time."""
    return {**flower_task, "received": None}


def first_flower(now: float) -> dict[str, dict]:
    """What Flower holds at the first load."""
    tasks = [
        task("steady", "etl.extract_orders", "SUCCESS", DAY1 + 10 * HOUR, started=DAY1 + 10 * HOUR + 1,
             finished=DAY1 + 10 * HOUR + 3, runtime=2.0),
        task("failed_once", "etl.extract_orders", "FAILURE", DAY1 + 11 * HOUR, started=DAY1 + 11 * HOUR + 1,
             finished=DAY1 + 11 * HOUR + 4, exception="ConnectionError('orders API timed out')"),
        # running at midnight: counts on the 20th until it fails on the 21st
        task("past_midnight", "etl.load_payments", "STARTED", DAY2 - 10 * 60, started=DAY2 - 10 * 60 + 1),
        # the only etl.publish_dashboard run of the 20th, until it finishes on the 21st
        task("lonely", "etl.publish_dashboard", "STARTED", DAY2 - 5 * 60, started=DAY2 - 5 * 60 + 1),
        task("retrying", "etl.enrich_orders", "RETRY", DAY2 + 4 * HOUR, started=DAY2 + 4 * HOUR + 1,
             retries=1, exception="KeyError('customer_id')"),
        task("d2_ok", "etl.build_daily_revenue", "SUCCESS", DAY2 + 8 * HOUR, started=DAY2 + 8 * HOUR + 2,
             finished=DAY2 + 8 * HOUR + 10, runtime=8.0),
        # received minutes ago: every load reads it again
        task("reraised", "etl.refresh_customer_ltv", "FAILURE", now - 120, started=now - 119,
             finished=now - 118, exception="KeyError('customer_id')"),
    ]  # fmt: skip
    return {row["uuid"]: row for row in tasks}


def second_load(tasks: dict[str, dict], now: float) -> None:
    tasks["past_midnight"].update(state="FAILURE", failed=DAY2 + 20 * 60, timestamp=DAY2 + 20 * 60,
                                  exception=PAYMENT_ERROR)  # fmt: skip
    tasks["lonely"].update(state="SUCCESS", succeeded=DAY2 + 5 * 60, timestamp=DAY2 + 5 * 60, runtime=600.0)
    # failed again after a re-run under the same id, with another exception
    tasks["reraised"].update(failed=now - 60, timestamp=now - 60, exception=LTV_ERROR)
    added = [
        # lands on the 20th, a day already built
        unreceived(task("late", "etl.extract_customers", "SUCCESS", DAY1 + 9 * HOUR,
                        started=DAY1 + 9 * HOUR, finished=DAY1 + 9 * HOUR + 60, runtime=60.0)),
        # Flower never saw its name (only its start event): the marts group it as "(unnamed)"
        unreceived(task("nameless", None, "STARTED", DAY3 - 2 * 60, started=DAY3 - 2 * 60)),
        task("fresh_1", "etl.extract_orders", "SUCCESS", now - 50, started=now - 49, finished=now - 48,
             runtime=1.0),
    ]  # fmt: skip
    tasks.update({row["uuid"]: row for row in added})


def third_load(tasks: dict[str, dict], now: float) -> None:
    tasks["retrying"].update(state="SUCCESS", succeeded=DAY2 + 4 * HOUR + 600, timestamp=DAY2 + 4 * HOUR + 600,
                             runtime=3.0)  # fmt: skip
    tasks["nameless"].update(state="FAILURE", failed=DAY3 + 3 * 60, timestamp=DAY3 + 3 * 60,
                             exception="SoftTimeLimitExceeded()")  # fmt: skip
    tasks["fresh_2"] = task("fresh_2", "etl.load_payments", "FAILURE", now - 40, started=now - 39,
                            finished=now - 38, exception=PAYMENT_ERROR)  # fmt: skip


def fourth_load(tasks: dict[str, dict], now: float) -> None:
    # the re-run succeeded at last: etl.refresh_customer_ltv has no failure left
    tasks["reraised"].update(state="SUCCESS", succeeded=now - 30, timestamp=now - 30, runtime=2.0)
    tasks["fresh_3"] = task("fresh_3", "etl.enrich_orders", "FAILURE", now - 20, started=now - 19,
                            finished=now - 18, exception="KeyError('order_id')")  # fmt: skip


def fifth_load(tasks: dict[str, dict], now: float) -> None:
    tasks["fresh_4"] = task("fresh_4", "etl.enrich_orders", "SUCCESS", now - 10, started=now - 9,
                            finished=now - 8, runtime=1.5)  # fmt: skip


def mart_differences(warehouse: Path, workdir: Path, project_dir: Path = DBT_DIR) -> dict[str, tuple]:
    """Every table of schema marts as (rows, rows only the full refresh has, rows only `warehouse` has),
    the full refresh being a copy of `warehouse` rebuilt with `dbt run --full-refresh`."""
    rebuilt = workdir / "full_refresh"
    shutil.rmtree(rebuilt, ignore_errors=True)
    rebuilt.mkdir()
    shutil.copy(warehouse, rebuilt / "warehouse.duckdb")
    dbt("run", rebuilt, "--full-refresh", project_dir=project_dir, warehouse=rebuilt / "warehouse.duckdb")
    with duckdb.connect(str(rebuilt / "warehouse.duckdb")) as con:
        con.execute(f"attach '{warehouse}' as incremental (read_only)")
        # the marts and every incremental model, found by dbt ls so a new one is compared too (but the change
        # logs: a full build logs nothing)
        compared = sorted(set(incremental_models()) - set(change_logs()))
        tables = [row[0] for row in con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() where database_name = 'warehouse'"
            " and (schema_name = 'marts' or table_name in ?) order by 1",
            [compared],
        ).fetchall()]  # fmt: skip
        return {
            table.split(".")[1]: con.execute(
                f"""select (select count(*) from {table}),
                           (select count(*) from (from {table} except all from incremental.{table})),
                           (select count(*) from (from incremental.{table} except all from {table}))"""
            ).fetchone()
            for table in tables
        }


MARKER = "marked by the test before the build"


def mark_tables(warehouse: Path) -> None:
    """Comments a column of each incremental model's table: a build that merges into the table keeps the
    comment, a rebuild in full makes a new table without it (DuckDB's table oids are no identity: they are
    handed out afresh whenever the file is opened)."""
    with duckdb.connect(str(warehouse)) as con:
        for schema, table, column in con.execute(
            "select schema_name, table_name, column_name from duckdb_columns()"
            " where table_name in ? and column_index = 1",
            [list(incremental_models())],
        ).fetchall():
            con.execute(f"comment on column {schema}.{table}.{column} is '{MARKER}'")


def replaced_tables(warehouse: Path) -> set[str]:
    """The incremental models whose table a build since mark_tables replaced."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        marked = {row[0] for row in con.execute(
            "select table_name from duckdb_columns() where comment = ?", [MARKER]
        ).fetchall()}  # fmt: skip
    return set(incremental_models()) - marked


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def newest_load_ids(warehouse: Path) -> dict[str, str]:
    """The newest load id in the raw tasks and behind each task mart."""
    return dict(
        query(
            warehouse,
            """select 'flower.tasks', max(_dlt_load_id) from flower.tasks
               union all select 'fct_task_runs', max(dlt_load_id) from marts.fct_task_runs
               union all select 'task_failure_daily', max(latest_dlt_load_id) from marts.task_failure_daily""",
        )
    )


def build_killed_once_fct_task_runs_starts(workdir: Path, warehouse: Path) -> int:
    """`dbt build`, killed (SIGKILL) as soon as it starts building fct_task_runs; returns its exit code."""
    process = subprocess.Popen(
        dbt_command("build", workdir, *FLOWER_BUILD),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dbt_env(warehouse),
    )
    for line in process.stdout:
        if "START sql incremental model marts.fct_task_runs" in line:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.stdout.close()
    return process.wait()


@dataclass
class History:
    """What the scenario saw: differences from a full refresh and mart rows after each complete build."""

    warehouse: Path
    workdir: Path
    differences: dict[str, dict[str, tuple]] = field(default_factory=dict)
    daily: dict[str, list[tuple]] = field(default_factory=dict)
    signatures: dict[str, list[tuple]] = field(default_factory=dict)
    replaced: dict[str, set[str]] = field(default_factory=dict)
    newest: dict[str, dict[str, str]] = field(default_factory=dict)
    logged: dict[str, tuple] = field(default_factory=dict)
    killed: dict[str, object] = field(default_factory=dict)
    selected_alone: subprocess.CompletedProcess | None = None
    partial: dict[str, str] = field(default_factory=dict)
    billing: dict[str, list[tuple]] = field(default_factory=dict)

    def built(self, step: str) -> None:
        self.differences[step] = mart_differences(self.warehouse, self.workdir)
        self.daily[step] = query(
            self.warehouse,
            "select day, task_name, runs, successes, failures, retried_runs from marts.task_failure_daily"
            " where cluster = 'default' and day < date '2026-11-23' order by all",
        )
        self.signatures[step] = query(
            self.warehouse,
            "select task_name, exception_type, failures from marts.task_failure_signatures"
            " where cluster = 'default' order by all",
        )
        self.billing[step] = query(
            self.warehouse,
            "select 'runs', count(*), count(distinct task_id) from marts.fct_task_runs where cluster = 'billing'"
            " union all select 'daily', count(*), sum(runs) from marts.task_failure_daily where cluster = 'billing'"
            " union all select 'workers', count(*), count(distinct worker) from marts.dim_workers"
            " where cluster = 'billing' order by 1",
        )
        self.replaced[step] = replaced_tables(self.warehouse)
        self.newest[step] = newest_load_ids(self.warehouse)
        self.logged[step] = query(
            self.warehouse, "select count(*), min(changed_in_load_id) from intermediate.int_task_run_changes"
        )[0]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    """Five loads through dlt, each followed by incremental builds: the third build killed once it starts
    fct_task_runs, then run again; after the fourth load fct_task_runs alone (refused), then with its change
    log only (the marts miss that build); the fifth build catches the marts up."""
    workdir = tmp_path_factory.mktemp("incremental")
    result = History(warehouse=workdir / "warehouse.duckdb", workdir=workdir)
    now = time.time()
    tasks = first_flower(now)
    with pytest.MonkeyPatch.context() as monkeypatch, HTTPServer() as flower:
        monkeypatch.setenv("DUCKDB_PATH", str(result.warehouse))
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        monkeypatch.setenv("SOURCES__FLOWER__BASE_URL", flower.url_for("/").rstrip("/"))
        monkeypatch.setenv("SOURCES__FLOWER__USERNAME", "taskline")
        monkeypatch.setenv("SOURCES__FLOWER__PASSWORD", "taskline-demo")
        serve_flower(flower, celery_messages=1, online=True, tasks=tasks)

        def load(change=None) -> None:
            if change:
                change(tasks, now)
            make_pipeline("flower").run(flower_source())

        load()
        # a second cluster with the same task ids, names and worker names, loaded once: no build may touch it
        make_pipeline("flower_billing", dataset="flower").run(flower_source(cluster="billing"))
        dbt("build", workdir)
        result.built("first")
        mark_tables(result.warehouse)

        load(second_load)
        dbt("build", workdir, *FLOWER_BUILD)
        result.built("second")

        load(third_load)
        exit_code = build_killed_once_fct_task_runs_starts(workdir, result.warehouse)
        result.killed = {"exit_code": exit_code, "newest": newest_load_ids(result.warehouse)}
        dbt("build", workdir, *FLOWER_BUILD)
        result.built("third, after the killed build")

        load(fourth_load)
        result.selected_alone = run_dbt("build", workdir, "--select", "fct_task_runs")
        dbt("build", workdir, "--select", "int_task_run_changes", "fct_task_runs")
        result.partial = newest_load_ids(result.warehouse)

        load(fifth_load)
        dbt("build", workdir, *FLOWER_BUILD)
        result.built("fifth, the marts missed the fourth")
    return result


def test_every_incremental_build_equals_a_full_refresh(history):
    assert list(history.differences) == [
        "first",
        "second",
        "third, after the killed build",
        "fifth, the marts missed the fourth",
    ]
    for step, tables in history.differences.items():
        for table in (
            "fct_task_runs",
            "task_failure_daily",
            "task_failure_signatures",
            "task_failure_impact",
        ):
            assert tables[table][0] > 0, f"{step}: marts.{table} is empty"
        for table, (_, only_in_full_refresh, only_incremental) in tables.items():
            assert (only_in_full_refresh, only_incremental) == (0, 0), f"{step}: marts.{table}"


def test_a_second_cluster_with_the_same_task_and_worker_names_stays_apart_through_every_build(history):
    """billing, loaded once with the same task ids, task names and workers as the default cluster: the
    incremental builds that follow the default cluster's changes never merge into nor change its rows."""
    [first, *later] = history.billing.values()
    assert [row[0] for row in first] == ["daily", "runs", "workers"]
    assert dict((name, (rows, distinct)) for name, rows, distinct in first)["runs"][0] > 0
    assert all(rows == first for rows in later)


def test_the_builds_after_the_first_merged_into_the_same_tables(history):
    """Proof that the builds compared were incremental: a rebuild in full would have made new tables."""
    assert history.replaced.pop("first") == set(incremental_models())  # not marked yet
    assert history.replaced == {step: set() for step in history.differences if step != "first"}


def test_a_run_moves_to_the_day_it_finished_and_an_emptied_day_goes(history):
    def day(step: str, when: float, task_name: str) -> list[tuple]:
        wanted = datetime.fromtimestamp(when, UTC).date()
        return [row[2:] for row in history.daily[step] if row[0] == wanted and row[1] == task_name]

    # (runs, successes, failures, retried_runs)
    assert day("first", DAY1, "etl.publish_dashboard") == [(1, 0, 0, 0)]
    assert day("second", DAY1, "etl.publish_dashboard") == []
    assert day("second", DAY2, "etl.publish_dashboard") == [(1, 1, 0, 0)]
    assert day("first", DAY1, "etl.load_payments") == [(1, 0, 0, 0)]
    assert day("second", DAY1, "etl.load_payments") == []
    assert day("second", DAY2, "etl.load_payments") == [(1, 0, 1, 0)]
    # the late task joins the 20th
    assert day("first", DAY1, "etl.extract_customers") == []
    assert day("second", DAY1, "etl.extract_customers") == [(1, 1, 0, 0)]
    # the nameless run (grouped as "(unnamed)") moves from the 21st to the 22nd
    assert day("second", DAY2, "(unnamed)") == [(1, 0, 0, 0)]
    assert day("third, after the killed build", DAY2, "(unnamed)") == []
    assert day("third, after the killed build", DAY3, "(unnamed)") == [(1, 0, 1, 0)]
    # the retried run ends as a retried success
    assert day("second", DAY2, "etl.enrich_orders") == [(1, 0, 0, 1)]
    assert day("third, after the killed build", DAY2, "etl.enrich_orders") == [(1, 1, 0, 1)]


def test_a_failure_moves_with_its_exception_type_and_leaves_when_it_succeeds(history):
    def ltv(step: str) -> list[tuple]:
        return [row[1:] for row in history.signatures[step] if row[0] == "etl.refresh_customer_ltv"]

    assert ltv("first") == [("KeyError", 1)]
    assert ltv("second") == [("UpstreamTimeout", 1)]
    assert ltv("fifth, the marts missed the fourth") == []


def test_a_build_killed_midway_left_the_marts_behind_and_the_next_build_caught_up(history):
    assert history.killed["exit_code"] == -signal.SIGKILL
    newest = history.killed["newest"]
    assert newest["task_failure_daily"] < newest["flower.tasks"]
    # equal to a full refresh after the rerun: test_every_incremental_build_equals_a_full_refresh


def test_the_change_log_keeps_only_entries_a_mart_has_not_used(history):
    # the marts held the third load after the third build; the fourth build pruned what they had used
    third = history.newest["third, after the killed build"]
    assert third["task_failure_daily"] == third["flower.tasks"]
    count, oldest = history.logged["fifth, the marts missed the fourth"]
    assert count > 0 and oldest > third["flower.tasks"]
    assert history.logged["third, after the killed build"][0] > 0


def test_fct_task_runs_alone_refuses_changes_its_change_log_has_not_logged(history):
    refused = history.selected_alone
    assert refused.returncode == 1
    assert "changed task(s)" in refused.stdout
    assert "are not in" in refused.stdout and "int_task_run_changes" in refused.stdout
    assert "dbt build --select int_task_run_changes+" in refused.stdout
    # then built with the change log: fct_task_runs took the fourth load, the marts did not
    assert history.partial["fct_task_runs"] == history.partial["flower.tasks"]
    assert history.partial["task_failure_daily"] < history.partial["fct_task_runs"]


# ---- dbt changes: what they touch is rebuilt in full, the rest stays incremental -------------------------


def project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return project


def warehouse_copy(history: History, tmp_path: Path) -> Path:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(history.warehouse, warehouse)
    return warehouse


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_new_column_in_a_mart_rebuilds_that_mart_in_full(history, tmp_path):
    project, warehouse = project_copy(tmp_path), warehouse_copy(history, tmp_path)
    edit(
        project / "models/marts/tasks/task_failure_daily.sql",
        "count(*) filter (where not is_finished) as unfinished_runs,",
        "count(*) filter (where not is_finished) as unfinished_runs,\n"
        "        count(*) filter (where outcome = 'ignored') as ignored_runs,",
    )
    mark_tables(warehouse)
    dbt("build", tmp_path, *FLOWER_BUILD, project_dir=project, warehouse=warehouse)
    assert replaced_tables(warehouse) == {"task_failure_daily"}
    # filled for the old rows too, as a full refresh fills it
    assert query(warehouse, "select count(*), count(ignored_runs) from marts.task_failure_daily") == query(
        warehouse, "select count(*), count(*) from marts.task_failure_daily"
    )
    differences = mart_differences(warehouse, tmp_path, project_dir=project)
    assert differences["task_failure_daily"][1:] == (0, 0)


def test_a_change_upstream_rebuilds_every_incremental_model_below_it(history, tmp_path):
    project, warehouse = project_copy(tmp_path), warehouse_copy(history, tmp_path)
    edit(
        project / "models/marts/tasks/fct_task_runs.sql",
        "retries > 0 as is_retried,",
        "retries > 0 as is_retried,\n        retries > 1 as is_retried_twice,",
    )
    mark_tables(warehouse)
    dbt("build", tmp_path, *FLOWER_BUILD, project_dir=project, warehouse=warehouse)
    assert replaced_tables(warehouse) == {
        "fct_task_runs",
        "task_failure_daily",
        "task_failure_signatures",
        "int_task_outcomes_per_minute",
    }
    assert query(
        warehouse, "select count(*) filter (where is_retried_twice is null) from marts.fct_task_runs"
    ) == [(0,)]
    # and a build with nothing changed merges again
    mark_tables(warehouse)
    dbt("build", tmp_path, *FLOWER_BUILD, project_dir=project, warehouse=warehouse)
    assert replaced_tables(warehouse) == set()


def test_a_full_refresh_of_fct_task_runs_alone_rebuilds_the_task_marts_at_their_next_build(history, tmp_path):
    warehouse = warehouse_copy(history, tmp_path)
    mark_tables(warehouse)
    dbt("build", tmp_path, "--full-refresh", "--select", "fct_task_runs", warehouse=warehouse)
    assert replaced_tables(warehouse) == {"fct_task_runs"}
    mark_tables(warehouse)
    dbt("build", tmp_path, *FLOWER_BUILD, warehouse=warehouse)
    # fct_task_runs has new rows (a new generation): no change log reaches back to the marts' last build
    assert replaced_tables(warehouse) == {
        "task_failure_daily",
        "task_failure_signatures",
        "int_task_outcomes_per_minute",
    }
    differences = mart_differences(warehouse, tmp_path)
    assert all(counts[1:] == (0, 0) for counts in differences.values())


def test_a_load_older_than_the_last_build_fails_the_build_and_holds_back_the_marts(history, tmp_path):
    """Rows that reach flower.tasks under a load id no newer than fct_task_runs holds (a load committed out
    of order) would never be merged: a test says so, and the task marts are not built on top."""
    warehouse = warehouse_copy(history, tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        (built_up_to,) = con.execute("select max(dlt_load_id) from marts.fct_task_runs").fetchone()
        con.execute(
            "insert into flower.tasks by name select * replace ('out-of-order-' || uuid as uuid, ? as _dlt_load_id)"
            " from flower.tasks where uuid = 'steady'",
            [built_up_to],
        )
    failed = run_dbt("build", tmp_path, *FLOWER_BUILD, warehouse=warehouse)
    assert failed.returncode == 1
    assert "FAIL 2 same_rows_per_recent_load_fct_task_runs" in failed.stdout  # its load, and in all
    assert "SKIP relation marts.task_failure_daily" in failed.stdout


def test_build_state_is_stored_with_each_incremental_table(history):
    comments = query(
        history.warehouse,
        "select table_name, comment from duckdb_tables() where comment is not null order by table_name",
    )
    # every incremental model (the append-only history too, though nothing ever rebuilds it), none of them
    # asking for it: dbt_project.yml's post-hook
    assert [name for name, _ in comments] == list(incremental_models())
    states = [json.loads(comment) for _, comment in comments]
    assert all(set(state) == {"fingerprint", "generation"} for state in states)


LOST_WORKER_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/venv/billiard/pool.py", line 1367, in mark_as_worker_lost\n'
    "    raise WorkerLostError(\n"
    "billiard.exceptions.WorkerLostError: Worker exited prematurely: signal 9 (SIGKILL) Job: 2.\n"
)


def test_rows_built_by_an_older_exception_parser_are_reclassified_by_the_next_build(tmp_path, monkeypatch):
    """A warehouse built when the parser took Flower's ExceptionWithTraceback() for the class (emulated: the
    project with the traceback fallback switched off); the next build with the current parser rebuilds the
    task marts in full, so rows already built name the real class. The raw row is untouched."""
    lost = task(
        "lost", "etl.load_payments", "FAILURE", DAY1 + 10 * HOUR, started=DAY1 + 10 * HOUR + 1,
        finished=DAY1 + 10 * HOUR + 2, exception="ExceptionWithTraceback()",
    ) | {"traceback": LOST_WORKER_TRACEBACK}  # fmt: skip
    warehouse = tmp_path / "warehouse.duckdb"
    with HTTPServer() as flower:
        monkeypatch.setenv("SOURCES__FLOWER__BASE_URL", flower.url_for("/").rstrip("/"))
        monkeypatch.setenv("SOURCES__FLOWER__USERNAME", "taskline")
        monkeypatch.setenv("SOURCES__FLOWER__PASSWORD", "taskline-demo")
        serve_flower(flower, celery_messages=1, online=True, tasks={"lost": lost})
        make_pipeline("flower").run(flower_source())
    older = project_copy(tmp_path)
    edit(
        older / "macros/select_parsed_exceptions.sql",
        "coalesce(text_class_path, '') in ('', 'ExceptionWithTraceback')",
        "false",
    )
    # (its own unit tests would fail: they expect the real classes)
    dbt("build", tmp_path, "--exclude-resource-type", "unit_test", project_dir=older, warehouse=warehouse)
    signatures = "select task_name, exception_type, failures from marts.task_failure_signatures"
    assert query(warehouse, signatures) == [("etl.load_payments", "ExceptionWithTraceback", 1)]

    mark_tables(warehouse)
    dbt("build", tmp_path, *FLOWER_BUILD, warehouse=warehouse)

    assert {"fct_task_runs", "task_failure_signatures", "int_task_outcomes_per_minute"} <= replaced_tables(
        warehouse
    )
    assert query(warehouse, "select outcome, exception_type, exception_message from marts.fct_task_runs") == [
        ("lost", "WorkerLostError", "Worker exited prematurely: signal 9 (SIGKILL)")
    ]
    assert query(warehouse, signatures) == [("etl.load_payments", "WorkerLostError", 1)]
    assert query(warehouse, "select exception from flower.tasks") == [("ExceptionWithTraceback()",)]
