"""The SQLFlow source when SQLFlow answers badly, over real HTTP against the local stand-in: envelopes without
lineage, timeouts, busy and failing servers, connections refused or closed; one bad answer is recorded and
the rest load, and every error names SQLFlow, the endpoint and the setting to fix.
"""

import socket
import threading
from contextlib import suppress
from datetime import timedelta

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from demo.sqlflow_standin import DemoJob, SQLFlowStandIn
from sources.sqlflow import SQLFlowAuthError, SQLFlowError
from sources.sqlflow.client import SQLFlowClient
from sources.sqlflow.run_counts import last_run_counts
from tests.fixtures.sqlflow_loads import (
    EXPORT_PATH,
    JOBS_PATH,
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
