"""The SQLFlow source over real HTTP: dlt's client and our auth against the local SQLFlow stand-in; its
settings, full loads, and what later loads send again or retire (tokens: test_sqlflow_tokens.py, bad answers:
test_sqlflow_failures.py; fixtures and helpers: tests/fixtures/sqlflow_loads.py)."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from demo.sqlflow_standin import DemoJob, SQLFlowStandIn
from orchestration.warehouse.pipelines import make_pipeline
from sources.sqlflow import SQLFlowConfigError, sqlflow_source
from sources.sqlflow.sql_files import PROJECT_DIR, file_key
from tests.fixtures.sqlflow_loads import (
    EXPORT_PATH,
    FORM_TYPES,
    LINEAGE_SQL,
    QUERY_PATH,
    SECRET,
    TOKEN_PATH,
    USER_ID,
    query,
    run,
    scalar,
    set_sql_paths,
    sqlflow_error_in,
    write_sql,
)

pytestmark = pytest.mark.integration


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
