"""The SQLFlow source over real HTTP: dlt's client and our auth against the local SQLFlow stand-in."""

import json
import socket
import threading
import time
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import requests
from dlt.pipeline.exceptions import PipelineStepFailed

from demo.sqlflow_standin import DENIED, DemoJob, SQLFlowStandIn
from orchestration.warehouse.engine import make_pipeline, warehouse_path
from sources.sqlflow import SQLFlowAuthError, SQLFlowConfigError, SQLFlowError, sqlflow_source
from sources.sqlflow.auth import DEFAULT_TOKEN_LIFETIME_S, inject_form_fields, token_lifetime_s
from sources.sqlflow.client import SQLFlowClient
from sources.sqlflow.run_counts import last_run_counts
from sources.sqlflow.sql_files import PROJECT_DIR, file_key

pytestmark = pytest.mark.integration

USER_ID = "demo|taskline"
SECRET = "taskline-demo-secret"
TOKEN_PATH = "/user/generateToken"
JOBS_PATH = "/sqlflow/job/displayUserJobsSummary"
EXPORT_PATH = "/sqlflow/job/exportLineageAsJson"
QUERY_PATH = "/sqlflow/generation/sqlflow"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LINEAGE_SQL = "INSERT INTO staging.b (id, name) SELECT a.id, a.name FROM raw.a AS a WHERE a.ok;\n"


@pytest.fixture
def sqlflow_env(monkeypatch, tmp_path):
    """Credentials and fast retries in the environment; cwd in tmp_path, away from the project directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCES__SQLFLOW__USER_ID", USER_ID)
    monkeypatch.setenv("SOURCES__SQLFLOW__SECRET_KEY", SECRET)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.01")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "0.05")
    return monkeypatch


@pytest.fixture
def standin(sqlflow_standin, sqlflow_env):
    """The demo stand-in, with SOURCES__SQLFLOW__BASE_URL pointing at it."""
    sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", sqlflow_standin.base_url)
    return sqlflow_standin


@pytest.fixture
def layout_standin(sqlflow_env):
    """Two jobs with the same SQL, one answering a flat `dbobjs` + `relationships`, one the `servers` tree +
    `relations`; and a failed job."""
    jobs = [
        DemoJob("flat_job", {"a.sql": LINEAGE_SQL}, show_relation_type="fdd,fdr"),
        DemoJob(
            "tree_job",
            {"a.sql": LINEAGE_SQL},
            layout="tree",
            relations_key="relations",
            show_relation_type="fdd,fdr",
        ),  # fmt: skip
        DemoJob("failed_job", {"a.sql": "SELEC"}, status="fail"),
    ]
    with SQLFlowStandIn(jobs=jobs) as server:
        sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", server.base_url)
        sqlflow_env.setenv("SOURCES__SQLFLOW__SHOW_RELATION_TYPE", "fdd,fdr")
        yield server


def run(*resources: str):
    """Load a fresh source (only `resources` when given) into the test's warehouse."""
    source = sqlflow_source()
    pipeline = make_pipeline("sqlflow")
    pipeline.run(source.with_resources(*resources) if resources else source)
    return pipeline


def query(sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse_path()), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def scalar(sql: str):
    return query(sql)[0][0]


def client(standin: SQLFlowStandIn) -> SQLFlowClient:
    return SQLFlowClient(standin.base_url, USER_ID, SECRET, request_timeout=10)


@pytest.fixture
def api(sqlflow_standin, sqlflow_env) -> SQLFlowClient:
    """A client of the demo stand-in (fast retries from sqlflow_env)."""
    return client(sqlflow_standin)


def sqlflow_error_in(error: BaseException) -> BaseException:
    """The SQLFlowError a dlt pipeline error wraps."""
    while error is not None and not isinstance(error, SQLFlowError):
        error = error.__cause__ or error.__context__
    assert error is not None, "no SQLFlowError in the exception chain"
    return error


@pytest.fixture
def sql_dir(tmp_path) -> Path:
    """Where a test writes its SQL files: outside the project, so SQL_PATHS patterns for it are absolute."""
    return tmp_path / "sql"


def write_sql(sql_dir: Path, name: str, text: str) -> None:
    path = sql_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def set_sql_paths(env: pytest.MonkeyPatch, *patterns: str | Path) -> None:
    env.setenv("SOURCES__SQLFLOW__SQL_PATHS", json.dumps([str(pattern) for pattern in patterns]))


# ---- configuration --------------------------------------------------------------------------------------


def test_env_var_names_resolve_exactly_as_written(standin, sqlflow_env, sql_dir):
    write_sql(sql_dir, "nested/deep/one.sql", LINEAGE_SQL)
    set_sql_paths(sqlflow_env, sql_dir / "**/*.sql")
    sqlflow_env.setenv("SOURCES__SQLFLOW__DBVENDOR", "dbvmysql")
    sqlflow_env.setenv("SOURCES__SQLFLOW__SHOW_RELATION_TYPE", "fdd,fdr")
    sqlflow_env.setenv("SOURCES__SQLFLOW__IGNORE_RECORD_SET", "false")

    run("query_lineage")

    (token_call,) = standin.calls(TOKEN_PATH)
    assert token_call.form == {"userId": USER_ID, "secretKey": SECRET}
    (sent,) = standin.calls(QUERY_PATH)
    assert sent.form["userId"] == USER_ID
    assert sent.form["dbvendor"] == "dbvmysql"
    assert sent.form["showRelationType"] == "fdd,fdr"
    assert sent.form["ignoreRecordSet"] == "false"
    assert sent.form["sqltext"] == LINEAGE_SQL
    assert query("select sql_file, dbvendor from sqlflow.query_lineage") == [
        (f"{sql_dir}/nested/deep/one.sql", "dbvmysql")
    ]


def test_missing_credentials_fail_at_first_request_naming_the_settings(standin, sqlflow_env):
    sqlflow_env.delenv("SOURCES__SQLFLOW__USER_ID")
    sqlflow_env.delenv("SOURCES__SQLFLOW__SECRET_KEY")
    source = sqlflow_source()  # building it needs no secrets (Dagster builds it at import)

    with pytest.raises(PipelineStepFailed) as raised:
        make_pipeline("sqlflow").run(source.with_resources("jobs"))

    error = sqlflow_error_in(raised.value)
    assert isinstance(error, SQLFlowConfigError)
    assert "SOURCES__SQLFLOW__USER_ID" in str(error) and "SOURCES__SQLFLOW__SECRET_KEY" in str(error)
    assert standin.requests == []


# ---- full load: tables, counts, warnings, auth transport ----------------------------------------------


def test_full_load_of_demo_jobs(standin):
    pipeline = run()

    jobs = dict(query("select job_name, status from sqlflow.jobs"))
    assert jobs == {
        "nightly_marts": "success",
        "reporting_views": "success",
        "finance_partial": "partial_success",
        "broken_upload": "fail",
    }
    exported_ids = [call.form["jobId"] for call in standin.calls(EXPORT_PATH)]
    expected_ids = {
        standin.job(name).job_id for name in ("nightly_marts", "reporting_views", "finance_partial")
    }
    assert sorted(exported_ids) == sorted(
        expected_ids
    )  # the failed job is not exported; every call has jobId
    assert set(dict(query("select job_id, mode from sqlflow.job_lineage"))) == expected_ids
    counts = pipeline.last_trace.last_normalize_info.row_counts
    assert counts["jobs"] == 4 and counts["job_lineage"] == 3
    failed = query("select error_message, changed_at from sqlflow.jobs where status = 'fail'")
    assert failed[0][0].startswith("Analyze sql failed")
    assert str(failed[0][1]) == "2026-11-21 09:45:01"  # server-local time kept as given


def test_each_job_is_exported_with_its_own_options_and_a_difference_is_recorded(sqlflow_env):
    jobs = [
        DemoJob("fdd_job", {"a.sql": LINEAGE_SQL}),
        DemoJob("full_job", {"a.sql": LINEAGE_SQL}, show_relation_type="fdd,fdr", ignore_record_set=False),
    ]
    with SQLFlowStandIn(jobs=jobs) as server:
        sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", server.base_url)
        sqlflow_env.setenv("SOURCES__SQLFLOW__SHOW_RELATION_TYPE", "fdd,fdr")
        sqlflow_env.setenv("SOURCES__SQLFLOW__IGNORE_RECORD_SET", "false")
        run("jobs", "job_lineage")
        sent = {call.form["jobId"]: call.form for call in server.calls(EXPORT_PATH)}
        fdd_id, full_id = (server.job(name).job_id for name in ("fdd_job", "full_job"))

    assert (sent[fdd_id]["showRelationType"], sent[fdd_id]["ignoreRecordSet"]) == ("fdd", "true")
    assert (sent[full_id]["showRelationType"], sent[full_id]["ignoreRecordSet"]) == ("fdd,fdr", "false")
    assert dict(query("select job_id, options_differing from sqlflow.job_lineage")) == {
        fdd_id: "showRelationType fdd (the source's: fdd,fdr), ignoreRecordSet true (the source's: false)",
        full_id: None,
    }


def test_one_token_form_fields_only_and_secret_only_to_generate_token(standin):
    run()

    assert standin.tokens_issued == 1
    assert len(standin.calls(TOKEN_PATH)) == 1
    others = [r for r in standin.requests if not r.path.endswith(TOKEN_PATH)]
    assert len(others) == 1 + 3  # the jobs summary and three exports
    assert len({r.form["token"] for r in others}) == 1
    for recorded in standin.requests:
        assert recorded.method == "POST"
        assert recorded.content_type in FORM_TYPES
        assert "authorization" not in {name.lower() for name in recorded.headers}
        assert recorded.query == {}
        if recorded.path.endswith(TOKEN_PATH):
            continue
        assert "secretKey" not in recorded.form
        assert SECRET.encode() not in recorded.raw_body
        assert recorded.form["userId"] == USER_ID


def test_warnings_of_code_203_reach_the_warehouse(standin):
    run("job_lineage")

    rows = query(
        "select j.response_code, j.warnings from sqlflow.job_lineage j order by j.response_code, j.job_id"
    )
    partial_id = standin.job("finance_partial").job_id
    assert scalar(f"select response_code from sqlflow.job_lineage where job_id = '{partial_id}'") == 203
    assert scalar(f"select warnings from sqlflow.job_lineage where job_id = '{partial_id}'") == (
        "syntax error, state:1(10102) near: SELEC(3,1)"
    )
    assert [code for code, _ in rows].count(200) == 1
    assert all(warnings is None for code, warnings in rows if code == 200)
    assert all(warnings for code, warnings in rows if code == 203)


def test_both_object_layouts_and_relationship_keys_give_the_same_rows(layout_standin):
    run()

    def per_job(table: str) -> dict[str, int]:
        return dict(
            query(
                f"select j.job_name, count(*) from sqlflow.{table} x join sqlflow.jobs j using (job_id) group by 1"
            )
        )

    # the tree answer lists the process separately (`processes`), so it has one object fewer
    assert per_job("job_lineage_objects") == {"flat_job": 4, "tree_job": 3}
    assert per_job("job_lineage_columns") == {"flat_job": 9, "tree_job": 9}
    assert per_job("job_lineage_relationships") == {"flat_job": 6, "tree_job": 6}
    tables = query(
        "select j.job_name, o.object_name, o.qualified_name from sqlflow.job_lineage_objects o "
        "join sqlflow.jobs j using (job_id) where o.object_type = 'table' order by all"
    )
    assert tables == [
        ("flat_job", "RAW.A", "RAW.A"),
        ("flat_job", "STAGING.B", "STAGING.B"),
        ("tree_job", "A", "RAW.A"),  # DEFAULT_SERVER / DEFAULT placeholders dropped
        ("tree_job", "B", "STAGING.B"),
    ]
    edges = query(
        "select j.job_name, relationship_type, target_object_name, target_column, source_object_name, "
        "source_column, source_clause_type from sqlflow.job_lineage_relationships "
        "join sqlflow.jobs j using (job_id) where relationship_type = 'fdr' order by all"
    )
    assert edges[0] == ("flat_job", "fdr", "INSERT-SELECT-1", "RelationRows", "RAW.A", "OK", "where")
    assert len(edges) == 4
    failed_id = layout_standin.job("failed_job").job_id
    assert scalar(f"select count(*) from sqlflow.job_lineage where job_id = '{failed_id}'") == 0


# ---- incremental behaviour ------------------------------------------------------------------------------


def test_changed_job_is_exported_again_and_its_rows_replaced(layout_standin):
    run()
    before = scalar("select count(*) from sqlflow.job_lineage_relationships")
    exports_before = len(layout_standin.calls(EXPORT_PATH))

    pipeline = run()  # nothing changed: no export, but every job merged again (no cursor)
    assert len(layout_standin.calls(EXPORT_PATH)) == exports_before
    assert pipeline.last_trace.last_normalize_info.row_counts["jobs"] == 3

    flat = layout_standin.update_job("flat_job")  # a re-run: lastExecuteTime moves
    pipeline = run()

    new_exports = layout_standin.calls(EXPORT_PATH)[exports_before:]
    assert [call.form["jobId"] for call in new_exports] == [flat.job_id]
    assert scalar("select count(*) from sqlflow.jobs") == 3
    assert scalar("select count(*) from sqlflow.job_lineage_relationships") == before  # replaced, not added
    assert scalar(f"select count(*) from sqlflow.job_lineage where job_id = '{flat.job_id}'") == 1
    assert str(scalar(f"select changed_at from sqlflow.jobs where job_id = '{flat.job_id}'")) == (
        flat.last_execute_time
    )


def test_a_status_change_without_a_time_change_lands_and_is_exported(sqlflow_env):
    """A re-run within the same second keeps lastExecuteTime: the status alone tells the change."""
    same_second = "2026-11-20 05:00:00"
    jobs = [
        DemoJob("finishing", {"a.sql": LINEAGE_SQL}, status="running", last_execute_time=same_second),
        DemoJob("rerun", {"a.sql": LINEAGE_SQL}, last_execute_time=same_second),
        DemoJob("newest", {"a.sql": LINEAGE_SQL}, last_execute_time="2026-11-20 09:00:00"),
    ]
    with SQLFlowStandIn(jobs=jobs) as server:
        sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", server.base_url)
        run()
        assert {call.form["jobId"] for call in server.calls(EXPORT_PATH)} == {
            server.job("rerun").job_id,
            server.job("newest").job_id,
        }
        server.update_job("finishing", status="success", last_execute_time=same_second)
        server.update_job("rerun", status="partial_success", last_execute_time=same_second)

        run()

        second_exports = [call.form["jobId"] for call in server.calls(EXPORT_PATH)[2:]]
        assert sorted(second_exports) == sorted([server.job("finishing").job_id, server.job("rerun").job_id])
    assert query("select job_name, status, changed_at from sqlflow.jobs order by job_name") == [
        ("finishing", "success", datetime(2026, 11, 20, 5, 0)),
        ("newest", "success", datetime(2026, 11, 20, 9, 0)),
        ("rerun", "partial_success", datetime(2026, 11, 20, 5, 0)),
    ]
    assert scalar("select count(*) from sqlflow.job_lineage") == 3


def test_jobs_whose_local_time_repeats_an_hour_all_land(sqlflow_env):
    """DST fall-back: 02:30 summer time, then an hour later 02:10 winter time, which looks earlier."""
    with SQLFlowStandIn(jobs=[DemoJob("before_fallback", {"a.sql": LINEAGE_SQL})]) as server:
        server.update_job("before_fallback", last_execute_time="2026-10-25 02:30:00")
        sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", server.base_url)
        run("jobs")
        server.add_job(
            DemoJob("after_fallback", {"a.sql": LINEAGE_SQL}, last_execute_time="2026-10-25 02:10:00")
        )

        run("jobs")

    assert query("select job_name, changed_at from sqlflow.jobs order by changed_at") == [
        ("after_fallback", datetime(2026, 10, 25, 2, 10)),
        ("before_fallback", datetime(2026, 10, 25, 2, 30)),
    ]


def test_unchanged_sql_is_not_sent_again_and_changed_sql_replaces_its_rows(standin, sqlflow_env, sql_dir):
    write_sql(sql_dir, "orders.sql", LINEAGE_SQL)
    write_sql(sql_dir, "payments.sql", "INSERT INTO analytics.p (amount) SELECT amount FROM raw.payments;\n")
    write_sql(sql_dir, "empty.sql", "  \n")  # nothing to analyse: not sent
    set_sql_paths(sqlflow_env, sql_dir / "*.sql")

    run("query_lineage")
    assert [call.form["sqltext"] for call in standin.calls(QUERY_PATH)][0] == LINEAGE_SQL
    assert len(standin.calls(QUERY_PATH)) == 2

    run("query_lineage")
    assert len(standin.calls(QUERY_PATH)) == 2

    write_sql(sql_dir, "orders.sql", "INSERT INTO staging.c (id) SELECT id FROM raw.customers;\n")
    run("query_lineage")

    assert len(standin.calls(QUERY_PATH)) == 3
    assert standin.calls(QUERY_PATH)[-1].form["sqltext"].startswith("INSERT INTO staging.c")
    assert query("select sql_file, count(*) from sqlflow.query_lineage group by 1 order by 1") == [
        (f"{sql_dir}/orders.sql", 1),
        (f"{sql_dir}/payments.sql", 1),
    ]
    orders_tables = query(
        "select qualified_name from sqlflow.query_lineage_objects "
        f"where sql_file = '{sql_dir}/orders.sql' and object_type = 'table' order by 1"
    )
    assert orders_tables == [("RAW.CUSTOMERS",), ("STAGING.C",)]
    assert query(
        "select source_column, target_object_name from sqlflow.query_lineage_relationships "
        f"where sql_file = '{sql_dir}/orders.sql' order by all"
    ) == [("ID", "INSERT-SELECT-1"), ("ID", "STAGING.C")]


@pytest.mark.parametrize("root", ["demo/sql", f"{PROJECT_DIR}/demo/sql"], ids=["relative", "absolute"])
def test_sql_file_keys_do_not_depend_on_the_working_directory(standin, sqlflow_env, root):
    """Relative patterns start at the project directory: from any directory, the same files, the same keys."""
    set_sql_paths(sqlflow_env, f"{root}/*.sql")
    demo_files = sorted(path.name for path in (PROJECT_DIR / "demo" / "sql").glob("*.sql"))
    expected = [(f"{root}/{name}", None) for name in demo_files]

    for working_directory in (Path.cwd(), PROJECT_DIR, PROJECT_DIR / "dbt_project"):  # tmp_path first
        sqlflow_env.chdir(working_directory)
        run("query_lineage")
        assert query("select sql_file, retired_at from sqlflow.query_lineage order by 1") == expected

    assert len(standin.calls(QUERY_PATH)) == len(demo_files) == 4  # each sent once


def test_a_deleted_file_is_retired_and_comes_back_when_restored(standin, sqlflow_env, sql_dir, caplog):
    write_sql(sql_dir, "orders.sql", LINEAGE_SQL)
    write_sql(sql_dir, "payments.sql", "INSERT INTO analytics.p (amount) SELECT amount FROM raw.payments;\n")
    set_sql_paths(sqlflow_env, sql_dir / "*.sql")
    orders = f"{sql_dir}/orders.sql"
    summary = "select sql_file, content_sha256, sent_at, response_code, objects, relationships, retired_at"
    run("query_lineage")
    sent = query(f"{summary} from sqlflow.query_lineage where sql_file = '{orders}'")
    raw_rows = scalar(f"select count(*) from sqlflow.query_lineage_relationships where sql_file = '{orders}'")

    (sql_dir / "orders.sql").unlink()
    with caplog.at_level("WARNING", logger="sources.sqlflow.source"):
        run("query_lineage")

    (retired,) = query(f"{summary} from sqlflow.query_lineage where sql_file = '{orders}'")
    assert retired[:-1] == sent[0][:-1]  # the row is kept as it was, only flagged
    assert retired[-1] is not None and sent[0][-1] is None
    assert retired[-1].utcoffset() == timedelta(0)
    assert scalar("select count(*) from sqlflow.query_lineage where retired_at is null") == 1
    assert raw_rows == 4 and (
        scalar(f"select count(*) from sqlflow.query_lineage_relationships where sql_file = '{orders}'")
        == raw_rows
    )  # history stays, flagged through the summary row
    assert [record.getMessage() for record in caplog.records if "retired" in record.getMessage()] == [
        f"SQLFlow: {orders} no longer matches sql_paths: its lineage is retired from the marts"
    ]
    assert len(standin.calls(QUERY_PATH)) == 2

    run("query_lineage")  # retired once, not again
    assert scalar(f"select retired_at from sqlflow.query_lineage where sql_file = '{orders}'") == retired[-1]

    write_sql(sql_dir, "orders.sql", LINEAGE_SQL)
    run("query_lineage")

    assert len(standin.calls(QUERY_PATH)) == 3  # sent again
    assert query("select sql_file, retired_at from sqlflow.query_lineage order by 1") == [
        (orders, None),
        (f"{sql_dir}/payments.sql", None),
    ]
    assert (
        scalar(f"select count(*) from sqlflow.query_lineage_relationships where sql_file = '{orders}'")
        == raw_rows
    )


def test_a_renamed_or_emptied_file_retires_its_old_lineage(standin, sqlflow_env, sql_dir, caplog):
    write_sql(sql_dir, "orders.sql", LINEAGE_SQL)
    write_sql(sql_dir, "payments.sql", "INSERT INTO analytics.p (amount) SELECT amount FROM raw.payments;\n")
    set_sql_paths(sqlflow_env, sql_dir / "*.sql")
    run("query_lineage")

    (sql_dir / "orders.sql").rename(sql_dir / "orders_v2.sql")
    write_sql(sql_dir, "payments.sql", "\n")
    with caplog.at_level("WARNING", logger="sources.sqlflow.source"):
        run("query_lineage")

    assert query(
        "select sql_file, retired_at is not null, sent_at is not null from sqlflow.query_lineage order by 1"
    ) == [
        (f"{sql_dir}/orders.sql", True, True),
        (f"{sql_dir}/orders_v2.sql", False, True),
        (f"{sql_dir}/payments.sql", True, True),
    ]
    assert standin.calls(QUERY_PATH)[-1].form["sqltext"] == LINEAGE_SQL
    assert sorted(record.getMessage() for record in caplog.records if "retired" in record.getMessage()) == [
        f"SQLFlow: {sql_dir}/orders.sql no longer matches sql_paths: its lineage is retired from the marts",
        f"SQLFlow: {sql_dir}/payments.sql is empty now: its lineage is retired from the marts",
    ]


@pytest.mark.parametrize(
    ("pattern", "match", "key"),
    [
        ("demo/sql/*.sql", "demo/sql/orders.sql", "demo/sql/orders.sql"),
        ("./etl//sql/*.sql", "./etl//sql/a.sql", "etl/sql/a.sql"),
        ("etl/sql/**/*.sql", "etl/sql/daily/b.sql", "etl/sql/daily/b.sql"),
        ("etl/*/sql/*.sql", "etl/x/sql/c.sql", "etl/x/sql/c.sql"),
        ("*.sql", "top.sql", "top.sql"),
        ("../shared/sql/[ab].sql", "../shared/sql/a.sql", "../shared/sql/a.sql"),
        ("/srv/etl/sql/*.sql", "/srv/etl/sql/a.sql", "/srv/etl/sql/a.sql"),
        ("etl/sql/one.sql", "etl/sql/one.sql", "etl/sql/one.sql"),
    ],
)
def test_a_file_key_is_its_path_under_the_pattern_root(pattern, match, key):
    assert file_key(pattern, match) == key


# ---- token lifecycle ------------------------------------------------------------------------------------


def test_token_is_refreshed_before_it_expires(sqlflow_env):
    with SQLFlowStandIn(token_ttl_s=1) as server:
        api = client(server)
        api.call(JOBS_PATH.lstrip("/"), {})
        time.sleep(1.0)
        api.call(JOBS_PATH.lstrip("/"), {})

        assert server.tokens_issued == 2
        assert len(server.calls(JOBS_PATH)) == 2  # refreshed up front: no rejected call, no resend
        first, second = (call.form["token"] for call in server.calls(JOBS_PATH))
        assert first != second


def test_in_body_401_regenerates_the_token_and_resends_once(api, sqlflow_standin):
    api.call(JOBS_PATH.lstrip("/"), {})
    sqlflow_standin.expire_tokens()  # the server forgets the token: HTTP 200 + {"code": 401}

    envelope = api.call(JOBS_PATH.lstrip("/"), {})

    assert envelope.code == 200 and len(envelope.data["jobDetails"]) == 4
    assert sqlflow_standin.tokens_issued == 2
    calls = sqlflow_standin.calls(JOBS_PATH)
    assert len(calls) == 3
    assert calls[1].form["token"] == calls[0].form["token"] != calls[2].form["token"]


def test_second_401_after_a_fresh_token_is_a_clear_auth_error(api, sqlflow_standin):
    rejected = {"code": 401, "error": DENIED}
    sqlflow_standin.fail_next(JOBS_PATH, 200, rejected)
    sqlflow_standin.fail_next(JOBS_PATH, 200, rejected)

    with pytest.raises(SQLFlowAuthError) as raised:
        api.call(JOBS_PATH.lstrip("/"), {})

    message = str(raised.value)
    assert "SQLFlow sqlflow/job/displayUserJobsSummary" in message
    assert "code 401: Invalid user or token, access deny." in message
    assert "SOURCES__SQLFLOW__SECRET_KEY" in message
    assert sqlflow_standin.tokens_issued == 2  # exactly one regeneration
    assert len(sqlflow_standin.calls(JOBS_PATH)) == 2  # exactly one resend


def test_wrong_secret_is_a_clear_error_and_nothing_is_written(standin, sqlflow_env):
    wrong = "not-the-secret-4711"
    sqlflow_env.setenv("SOURCES__SQLFLOW__SECRET_KEY", wrong)

    with pytest.raises(PipelineStepFailed) as raised:
        run()

    error = sqlflow_error_in(raised.value)
    assert isinstance(error, SQLFlowAuthError)
    assert "SQLFlow user/generateToken rejected userId 'demo|taskline'" in str(error)
    assert "SOURCES__SQLFLOW__SECRET_KEY" in str(error)
    assert wrong not in str(raised.value) and wrong not in repr(raised.value)
    assert [r.path for r in standin.requests] == [standin.calls(TOKEN_PATH)[0].path]
    assert (
        not warehouse_path().exists()
        or query("select table_name from information_schema.tables where table_schema = 'sqlflow'") == []
    )


def test_legacy_on_premise_user_sends_the_literal_token_without_exchange(sqlflow_standin, sqlflow_env):
    api = SQLFlowClient(sqlflow_standin.base_url, "gudu|0123456789", None, request_timeout=10)

    api.call(JOBS_PATH.lstrip("/"), {})

    assert sqlflow_standin.calls(TOKEN_PATH) == []
    assert sqlflow_standin.calls(JOBS_PATH)[0].form == {"userId": "gudu|0123456789", "token": "token"}


def test_multipart_bodies_carry_the_auth_fields(api, sqlflow_standin):

    response = api.session.post(
        f"{api.base_url}{QUERY_PATH}",
        data={"dbvendor": "dbvpostgresql"},
        files={"sqlfile": ("a.sql", LINEAGE_SQL.encode())},
        auth=api.auth,
    )

    assert response.json()["code"] == 200
    (sent,) = sqlflow_standin.calls(QUERY_PATH)
    assert sent.content_type == "multipart/form-data"
    assert sent.form["userId"] == USER_ID and sent.form["token"]
    assert int(sent.headers["Content-Length"]) == len(sent.raw_body)


def test_secrets_stay_out_of_repr_errors_and_warehouse(standin):
    api = client(standin)
    api.call(JOBS_PATH.lstrip("/"), {})
    token = standin.calls(JOBS_PATH)[0].form["token"]
    for text in (repr(api), str(api.auth), repr(api.auth)):
        assert SECRET not in text and token not in text

    run()

    tables = [
        t for (t,) in query("select table_name from information_schema.tables where table_schema='sqlflow'")
    ]
    tokens = {call.form["token"] for call in standin.requests if "token" in call.form}
    for table in tables:
        dump = str(query(f"select * from sqlflow.{table}"))
        assert SECRET not in dump
        assert not any(t in dump for t in tokens)


# ---- envelope and transport failures ----------------------------------------------------------------------


def test_a_job_in_summary_mode_is_never_counted_as_exported(sqlflow_env):
    """Gudu documents returnFullRelationship for query mode only: a job export in summary mode is recorded as
    a failure (no detail yet), not asked again in another way, and retried after its back-off."""
    jobs = [DemoJob("flat_job", {"a.sql": LINEAGE_SQL})]
    with SQLFlowStandIn(jobs=jobs, relation_limit=1) as server:
        sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", server.base_url)
        run("job_lineage")
        run("job_lineage")  # within the back-off: not asked again

        (export,) = server.calls(EXPORT_PATH)
    assert "returnFullRelationship" not in export.form
    job_id = export.form["jobId"]
    assert query("select job_id, code, attempts, resolved_at from sqlflow.job_lineage_failures") == [
        (job_id, "summary", 1, None)
    ]
    [message] = [row[0] for row in query("select message from sqlflow.job_lineage_failures")]
    assert message.startswith("SQLFlow sqlflow/job/exportLineageAsJson answered in summary mode")
    tables = {
        t for (t,) in query("select table_name from information_schema.tables where table_schema='sqlflow'")
    }
    assert "job_lineage" not in tables  # nothing counted as exported


def test_query_mode_in_summary_is_asked_again_with_return_full_relationship(standin, sqlflow_env, sql_dir):
    write_sql(sql_dir, "wide.sql", LINEAGE_SQL)
    set_sql_paths(sqlflow_env, sql_dir / "*.sql")
    standin.relation_limit = 1

    run("query_lineage")

    first, second = standin.calls(QUERY_PATH)
    assert "returnFullRelationship" not in first.form
    assert second.form["returnFullRelationship"] == "true"
    mode, warnings, relationships = query("select mode, warnings, relationships from sqlflow.query_lineage")[
        0
    ]
    assert mode != "summary" and relationships == 4
    assert "summary mode" in warnings


def test_one_file_sqlflow_cannot_process_is_recorded_and_the_other_nine_load(standin, sqlflow_env, sql_dir):
    for number in range(10):
        marker = "-- sqlflow answers 500 for this one\n" if number == 3 else ""
        write_sql(
            sql_dir,
            f"f{number}.sql",
            f"{marker}INSERT INTO t.out{number} (id) SELECT id FROM raw.in{number};\n",
        )
    set_sql_paths(sqlflow_env, sql_dir / "*.sql")
    standin.answer_sql("sqlflow answers 500")
    failing = f"{sql_dir}/f3.sql"

    run("query_lineage")

    assert scalar("select count(*) from sqlflow.query_lineage") == 9
    assert scalar(f"select count(*) from sqlflow.query_lineage where sql_file = '{failing}'") == 0
    assert query("select sql_file, code, attempts, resolved_at from sqlflow.query_lineage_failures") == [
        (failing, "500", 1, None)
    ]
    assert len(standin.calls(QUERY_PATH)) == 10

    run("query_lineage")  # nothing changed, and the failed file waits for its back-off
    assert len(standin.calls(QUERY_PATH)) == 10

    write_sql(sql_dir, "f3.sql", "INSERT INTO t.out3 (id) SELECT id FROM raw.in3;\n")  # fixed: sent at once
    run("query_lineage")
    assert len(standin.calls(QUERY_PATH)) == 11
    assert scalar("select count(*) from sqlflow.query_lineage") == 10
    [(code, attempts, resolved_at)] = query(
        "select code, attempts, resolved_at from sqlflow.query_lineage_failures"
    )
    assert (code, attempts) == ("500", 1) and resolved_at is not None


QUEUED_BODY = {"code": 200, "data": {"status": "queued", "jobId": "5f3c0a9e"}}  # code 200, no lineage in it


def test_a_file_answered_without_lineage_and_one_slower_than_the_timeout_are_failures_the_rest_load(
    standin, sqlflow_env, sql_dir
):
    write_sql(sql_dir, "good.sql", LINEAGE_SQL)
    write_sql(sql_dir, "no_flow.sql", "SELECT 1;\n")  # validly empty lineage: keys present, nothing flows
    write_sql(sql_dir, "queued.sql", "-- answered queued\n" + LINEAGE_SQL)
    write_sql(sql_dir, "heavy.sql", "-- answered late\n" + LINEAGE_SQL)
    set_sql_paths(sqlflow_env, sql_dir / "*.sql")
    sqlflow_env.setenv("SOURCES__SQLFLOW__REQUEST_TIMEOUT", "3")
    standin.answer_sql("answered queued", 200, QUEUED_BODY)
    standin.slow_sql("answered late", 10)
    queued, heavy = f"{sql_dir}/queued.sql", f"{sql_dir}/heavy.sql"

    pipeline = run("query_lineage")  # green: neither file stops the others

    assert query("select sql_file, objects, relationships from sqlflow.query_lineage order by sql_file") == [
        (f"{sql_dir}/good.sql", 4, 4),
        (f"{sql_dir}/no_flow.sql", 1, 0),
    ]
    assert scalar("select count(*) from sqlflow.query_lineage_relationships") == 4
    failures = query(
        "select sql_file, code, attempts, resolved_at, next_attempt_at - last_failed_at "
        "from sqlflow.query_lineage_failures order by sql_file"
    )
    assert failures == [
        (heavy, "timeout", 1, None, timedelta(hours=1)),
        (queued, "no_lineage", 1, None, timedelta(hours=1)),
    ]
    messages = dict(query("select sql_file, message from sqlflow.query_lineage_failures"))
    assert messages[queued] == (
        f"SQLFlow sqlflow/generation/sqlflow answered code 200 for {queued} without lineage: no `dbobjs`, "
        "`relationships` or `relations` in its data (it holds jobId, status; status 'queued'). Tried again "
        "after the back-off, or at once when it changes."
    )
    assert messages[heavy] == (
        f"SQLFlow sqlflow/generation/sqlflow did not answer at {standin.base_url}/sqlflow/generation/sqlflow: "
        "read timeout of 3 s (SOURCES__SQLFLOW__REQUEST_TIMEOUT) after 1 attempt, not repeated this run "
        "(another would wait as long). Raise SOURCES__SQLFLOW__REQUEST_TIMEOUT or send less SQL per call."
    )
    heavy_calls = [
        sent for sent in standin.calls(QUERY_PATH) if sent.form["sqltext"].startswith("-- answered late")
    ]
    assert len(heavy_calls) == 1  # a read timeout is not retried (RUNTIME__REQUEST_MAX_ATTEMPTS is 3 here)
    assert last_run_counts(pipeline, "query_lineage") == {
        "sent": 4, "loaded": 2, "failed": 2, "backed_off": 0, "unchanged": 0
    }  # fmt: skip

    pipeline = run("query_lineage")  # within the back-off: neither bad file is sent again

    assert len(standin.calls(QUERY_PATH)) == 4
    assert last_run_counts(pipeline, "query_lineage") == {
        "sent": 0, "loaded": 0, "failed": 0, "backed_off": 2, "unchanged": 2
    }  # fmt: skip
    assert scalar("select count(*) from sqlflow.query_lineage_failures where resolved_at is null") == 2


def test_a_job_export_without_lineage_is_recorded_and_the_other_jobs_load(standin):
    standin.fail_next(EXPORT_PATH, 200, {"jobId": "x", **QUEUED_BODY})

    pipeline = run("job_lineage")

    first, *others = [call.form["jobId"] for call in standin.calls(EXPORT_PATH)]
    [(job_id, code, message)] = query("select job_id, code, message from sqlflow.job_lineage_failures")
    assert (job_id, code) == (first, "no_lineage")
    assert message.startswith(
        f"SQLFlow sqlflow/job/exportLineageAsJson answered code 200 for job {first} without lineage: no `dbobjs`"
    )
    assert sorted(job_id for (job_id,) in query("select job_id from sqlflow.job_lineage")) == sorted(others)
    assert last_run_counts(pipeline, "job_lineage") == {
        "sent": 3, "loaded": 2, "failed": 1, "backed_off": 0, "unchanged": 0
    }  # fmt: skip


def test_a_job_export_slower_than_the_timeout_is_recorded_once_and_the_other_jobs_load(sqlflow_env):
    jobs = [
        DemoJob("heavy_job", {"a.sql": "-- answered late\n" + LINEAGE_SQL}),
        DemoJob("job", {"a.sql": LINEAGE_SQL}),
    ]
    with SQLFlowStandIn(jobs=jobs) as server:
        sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", server.base_url)
        sqlflow_env.setenv("SOURCES__SQLFLOW__REQUEST_TIMEOUT", "3")
        server.slow_sql("answered late", 10)

        pipeline = run("job_lineage")

        heavy, good = server.job("heavy_job").job_id, server.job("job").job_id
        exported = [call.form["jobId"] for call in server.calls(EXPORT_PATH)]
    assert sorted(exported) == sorted(
        [heavy, good]
    )  # the heavy job asked once: a read timeout is not retried
    assert query("select job_id, code, attempts from sqlflow.job_lineage_failures") == [(heavy, "timeout", 1)]
    assert query("select job_id from sqlflow.job_lineage") == [(good,)]
    assert last_run_counts(pipeline, "job_lineage") == {
        "sent": 2, "loaded": 1, "failed": 1, "backed_off": 0, "unchanged": 0
    }  # fmt: skip


def test_a_file_over_the_query_mode_limit_is_not_sent(standin, sqlflow_env, sql_dir):
    write_sql(sql_dir, "huge.sql", LINEAGE_SQL + "-- " + "x" * (500 * 1024) + "\n")
    write_sql(sql_dir, "small.sql", LINEAGE_SQL)
    set_sql_paths(sqlflow_env, sql_dir / "*.sql")

    run("query_lineage")

    assert len(standin.calls(QUERY_PATH)) == 1
    [(code, message)] = query("select code, message from sqlflow.query_lineage_failures")
    assert code == "too_large"
    assert message.endswith(
        "over the 512,000 query mode takes: not sent. Split it, or submit it as a SQLFlow job."
    )


def test_busy_and_5xx_answers_are_retried(api, sqlflow_standin):
    sqlflow_standin.set_busy(1)  # hits generateToken
    sqlflow_standin.fail_next(JOBS_PATH, 503)

    envelope = api.call(JOBS_PATH.lstrip("/"), {})

    assert envelope.code == 200
    assert len(sqlflow_standin.calls(TOKEN_PATH)) == 2
    assert len(sqlflow_standin.calls(JOBS_PATH)) == 2


def test_busy_server_gives_up_after_the_configured_attempts(api, sqlflow_standin):
    api.call(JOBS_PATH.lstrip("/"), {})
    sqlflow_standin.set_busy(10)

    with pytest.raises(SQLFlowError) as raised:
        api.call(JOBS_PATH.lstrip("/"), {})

    assert str(raised.value) == (
        "SQLFlow sqlflow/job/displayUserJobsSummary failed with HTTP 500, code 500: "
        "Sorry, the service is busy. Please try again later."
    )
    assert len(sqlflow_standin.calls(JOBS_PATH)) == 1 + 3  # RUNTIME__REQUEST_MAX_ATTEMPTS


BASE_URL_ADVICE = (
    "check SOURCES__SQLFLOW__BASE_URL: it must end with the API prefix, e.g. "
    "https://api.gudusoft.com/gspLive_backend or http://host:8165/api/gspLive_backend"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_server_down_names_the_refused_connection_and_the_settings(sqlflow_env):
    port = free_port()
    sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", f"http://127.0.0.1:{port}/gspLive_backend")

    with pytest.raises(PipelineStepFailed) as raised:
        run("jobs")

    assert str(sqlflow_error_in(raised.value)) == (
        f"SQLFlow user/generateToken is unreachable at http://127.0.0.1:{port}/gspLive_backend/user/"
        f"generateToken: connection refused (nothing listens on 127.0.0.1:{port}), after 3 attempt(s), "
        f"RUNTIME__REQUEST_MAX_ATTEMPTS=3. Is the server running there? {BASE_URL_ADVICE}"
    )


def test_unknown_host_names_the_failed_name_resolution(api, sqlflow_env):
    unknown = SQLFlowClient("http://sqlflow.invalid/gspLive_backend", USER_ID, SECRET, request_timeout=10)

    with pytest.raises(SQLFlowError) as raised:
        unknown.call(JOBS_PATH.lstrip("/"), {})

    message = str(raised.value)
    assert message.startswith(
        "SQLFlow user/generateToken is unreachable at http://sqlflow.invalid/gspLive_backend/user/generateToken: "
        "the host name 'sqlflow.invalid' cannot be resolved ("
    )
    assert message.endswith(
        f"), after 3 attempt(s), RUNTIME__REQUEST_MAX_ATTEMPTS=3. Is the host name right? {BASE_URL_ADVICE}"
    )


def test_a_server_closing_connections_is_named_and_url_credentials_stay_out(sqlflow_env):
    with socket.socket() as closing:
        closing.bind(("127.0.0.1", 0))
        closing.listen(8)
        port = closing.getsockname()[1]

        def close_every_connection() -> None:
            with suppress(OSError):  # the listening socket is closed at the end of the test
                while True:
                    connection, _ = closing.accept()
                    connection.recv(65536)
                    connection.close()

        threading.Thread(target=close_every_connection, daemon=True).start()
        proxy_user = SQLFlowClient(
            f"http://ops:proxy-pass-4711@127.0.0.1:{port}/gspLive_backend",
            USER_ID,
            SECRET,
            request_timeout=10,
        )
        with pytest.raises(SQLFlowError) as raised:
            proxy_user.call(JOBS_PATH.lstrip("/"), {})

    assert str(raised.value) == (
        f"SQLFlow user/generateToken is unreachable at http://127.0.0.1:{port}/gspLive_backend/user/"
        f"generateToken: 127.0.0.1:{port} closed the connection without an answer, "
        "after 3 attempt(s), RUNTIME__REQUEST_MAX_ATTEMPTS=3. Is it SQLFlow that listens there, and with "
        f"http or https as given? {BASE_URL_ADVICE}"
    )


@pytest.mark.parametrize("resource", ["jobs", "query_lineage"])
def test_request_timeout_setting_bounds_a_silent_server(resource, sqlflow_env, sql_dir):
    """A server that takes connections but never answers stops the run: it gives no token, so every call would
    fail alike (a read timeout is one file's failure only once the server has answered)."""
    write_sql(sql_dir, "good.sql", LINEAGE_SQL)
    set_sql_paths(sqlflow_env, sql_dir / "*.sql")
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base_url = f"http://127.0.0.1:{silent.getsockname()[1]}/gspLive_backend"
        sqlflow_env.setenv("SOURCES__SQLFLOW__BASE_URL", base_url)
        sqlflow_env.setenv("SOURCES__SQLFLOW__REQUEST_TIMEOUT", "0.2")

        with pytest.raises(PipelineStepFailed) as raised:
            run(resource)

    assert str(sqlflow_error_in(raised.value)) == (
        f"SQLFlow user/generateToken did not answer at {base_url}/user/generateToken: read timeout of 0.2 s "
        "(SOURCES__SQLFLOW__REQUEST_TIMEOUT) after 3 attempt(s), RUNTIME__REQUEST_MAX_ATTEMPTS=3. "
        "Raise SOURCES__SQLFLOW__REQUEST_TIMEOUT or send less SQL per call."
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "<html><body><h1>502 Bad Gateway</h1></body></html>", "answered HTTP 200 with an HTML page"),
        (502, "<!DOCTYPE html><html>nginx</html>", "answered HTTP 502 with an HTML page"),
        (200, "OK", "answered HTTP 200 with a non-JSON body (application/json;charset=UTF-8)"),
        (200, {"code": 200}, "answered code 200 without a `data` object"),
        (200, {"code": 404, "error": "Job not found: x"}, "failed with HTTP 200, code 404: Job not found: x"),
        (400, {"status": 400, "error": "Bad Request"}, "failed with HTTP 400, code 400: Bad Request"),
    ],
)
def test_bad_answers_are_clear_errors_naming_sqlflow_and_the_endpoint(
    api, sqlflow_standin, status, body, expected
):
    for _ in range(3):  # 5xx are retried: every attempt gets the bad answer
        sqlflow_standin.fail_next(JOBS_PATH, status, body)

    with pytest.raises(SQLFlowError) as raised:
        api.call(JOBS_PATH.lstrip("/"), {})

    assert str(raised.value).startswith("SQLFlow sqlflow/job/displayUserJobsSummary ")
    assert expected in str(raised.value)


def test_a_bad_answer_for_one_job_is_recorded_with_the_clear_error_and_the_others_load(standin):
    standin.fail_next(EXPORT_PATH, 200, "<html>maintenance</html>")

    run("job_lineage")

    [(job_id, code, message)] = query("select job_id, code, message from sqlflow.job_lineage_failures")
    assert code is None  # no SQLFlow code: the body was not SQLFlow's
    assert message.startswith("SQLFlow sqlflow/job/exportLineageAsJson answered HTTP 200 with an HTML page")
    exported = len(standin.calls(EXPORT_PATH))
    assert scalar("select count(*) from sqlflow.job_lineage") == exported - 1
    assert scalar(f"select count(*) from sqlflow.job_lineage where job_id = '{job_id}'") == 0


def test_credentials_sqlflow_rejects_still_stop_the_whole_run(standin, sqlflow_env):
    sqlflow_env.setenv("SOURCES__SQLFLOW__SECRET_KEY", "wrong-secret")

    with pytest.raises(PipelineStepFailed) as raised:
        run("job_lineage")

    assert isinstance(sqlflow_error_in(raised.value), SQLFlowAuthError)


# ---- pure helpers ---------------------------------------------------------------------------------------


def test_token_lifetime_is_read_from_the_jwt_and_defaults_to_a_day(sqlflow_standin):
    token = requests.post(
        f"{sqlflow_standin.base_url}{TOKEN_PATH}", data={"userId": USER_ID, "secretKey": SECRET}
    ).json()["token"]

    assert token_lifetime_s(token) == 3600
    assert token_lifetime_s("not-a-jwt") == DEFAULT_TOKEN_LIFETIME_S == 24 * 3600


def test_injecting_again_replaces_the_earlier_auth_fields():
    prepared = requests.Request(
        "POST", "http://x/y", data={"a": "1"}, files={"sqlfile": ("a.sql", b"select 1")}
    ).prepare()
    inject_form_fields(prepared, {"userId": "u", "token": "old"})
    inject_form_fields(prepared, {"userId": "u", "token": "new"})

    assert prepared.body.count(b'name="token"') == 1
    assert b"new" in prepared.body and b"old" not in prepared.body
    assert prepared.headers["Content-Length"] == str(len(prepared.body))

    urlencoded = requests.Request("POST", "http://x/y", data={"a": "1", "token": "stale"}).prepare()
    inject_form_fields(urlencoded, {"userId": "demo|taskline", "token": "t"})
    assert urlencoded.body == "a=1&userId=demo%7Ctaskline&token=t"


def test_a_server_that_ignores_tokens_needs_only_its_address(monkeypatch, tmp_path):
    """Self-hosted SQLFlow 6.1.0.1+ with ignore_user_token=true: no generateToken, no userId or token sent."""
    from orchestration.ingest.configured import sqlflow_configured

    monkeypatch.chdir(tmp_path)
    for name in ("SOURCES__SQLFLOW__USER_ID", "SOURCES__SQLFLOW__SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SOURCES__SQLFLOW__IGNORE_USER_TOKEN", "true")
    with SQLFlowStandIn(jobs=[DemoJob("open_job", {"a.sql": LINEAGE_SQL})], ignore_user_token=True) as server:
        monkeypatch.setenv("SOURCES__SQLFLOW__BASE_URL", server.base_url)
        settings = sqlflow_configured()
        run("jobs", "job_lineage")

        assert server.calls(TOKEN_PATH) == []
        assert all("userId" not in call.form and "token" not in call.form for call in server.requests)
    assert (settings.configured, settings.problem()) == (True, None)
    assert scalar("select count(*) from sqlflow.job_lineage_relationships") == 4
