"""The SQLFlow source's auth over real HTTP against the local stand-in: tokens generated, refreshed and
resent, the legacy literal token, auth fields in every body, and secrets kept out of errors and the warehouse.
"""

import time

import pytest
import requests
from dlt.pipeline.exceptions import PipelineStepFailed

from demo.sqlflow_standin import DENIED, DemoJob, SQLFlowStandIn
from orchestration.warehouse.engine import warehouse_path
from sources.sqlflow import SQLFlowAuthError
from sources.sqlflow.auth import DEFAULT_TOKEN_LIFETIME_S, inject_form_fields, token_lifetime_s
from sources.sqlflow.client import SQLFlowClient
from tests.fixtures.sqlflow_loads import (
    JOBS_PATH,
    LINEAGE_SQL,
    QUERY_PATH,
    SECRET,
    TOKEN_PATH,
    USER_ID,
    client,
    query,
    run,
    scalar,
    sqlflow_error_in,
)

pytestmark = pytest.mark.integration


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
