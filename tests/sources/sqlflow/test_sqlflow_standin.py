"""The SQLFlow stand-in speaks the documented protocol (sqlflow-api.md), checked with plain `requests`."""

import base64
import json
import re
import subprocess
import sys
import time
from collections import defaultdict

import pytest
import requests

from demo.sqlflow_standin import BUSY, DEMO_USER_ID, DEMO_USERS, DENIED, DemoJob, SQLFlowStandIn
from tests.fixtures.paths import ROOT

SQL_DIR = ROOT / "demo" / "sql"
SECRET = DEMO_USERS[DEMO_USER_ID]


def post(standin, endpoint, **kwargs):
    return requests.post(f"{standin.base_url}{endpoint}", timeout=10, **kwargs)


def token_for(standin):
    return post(standin, "/user/generateToken", data={"userId": DEMO_USER_ID, "secretKey": SECRET}).json()[
        "token"
    ]


def auth(standin):
    return {"userId": DEMO_USER_ID, "token": token_for(standin)}


def export(standin, job_name, **params):
    data = {**auth(standin), "jobId": standin.job(job_name).job_id, **params}
    return post(standin, "/sqlflow/job/exportLineageAsJson", data=data).json()


def jwt_part(token, index):
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def objects_by_id(sqlflow):
    """id -> (qualified name, type) for the flat list and the servers tree (DEFAULT placeholders dropped)."""
    dbobjs = sqlflow["dbobjs"]
    if isinstance(dbobjs, list):
        return {o["id"]: (o["name"], o["type"]) for o in dbobjs}
    found = {}
    for server in dbobjs["servers"]:
        for database in server["databases"]:
            for schema in database["schemas"]:
                for bucket in ("tables", "views", "others"):
                    for obj in schema[bucket]:
                        path = (
                            [database["name"], schema["name"], obj["name"]]
                            if bucket != "others"
                            else [obj["name"]]
                        )
                        found[obj["id"]] = (".".join(p for p in path if p != "DEFAULT"), obj["type"])
    return found


def table_edges(sqlflow):
    """Real table -> real table pairs of the fdd relationships, resolved through intermediates."""
    objects = objects_by_id(sqlflow)
    feeds = defaultdict(set)
    for rel in sqlflow.get("relationships", sqlflow.get("relations")):
        if rel["type"] == "fdd":
            feeds[rel["target"]["parentId"]].update(s["parentId"] for s in rel["sources"])

    def real_sources(object_id, seen):
        if objects[object_id][1] in ("table", "view"):
            return {objects[object_id][0]}
        seen = seen | {object_id}
        return set().union(*(real_sources(s, seen) for s in feeds[object_id] - seen))

    return {
        (source, objects[target][0])
        for target, sources in feeds.items()
        if objects[target][1] in ("table", "view")
        for source in set().union(*(real_sources(s, {target}) for s in sources))
    }


MAIN_EDGES = {
    ("RAW.ORDERS", "STAGING.ORDERS_ENRICHED"),
    ("RAW.CUSTOMERS", "STAGING.ORDERS_ENRICHED"),
    ("STAGING.ORDERS_ENRICHED", "ANALYTICS.DAILY_REVENUE"),
    ("RAW.PAYMENTS", "ANALYTICS.DAILY_REVENUE"),
    ("STAGING.ORDERS_ENRICHED", "ANALYTICS.CUSTOMER_LTV"),
}


# ---- auth ---------------------------------------------------------------------------------------------
def test_generate_token_returns_string_code_and_a_top_level_hs256_jwt(sqlflow_standin):
    response = post(
        sqlflow_standin, "/user/generateToken", data={"userId": DEMO_USER_ID, "secretKey": SECRET}
    )

    body = response.json()
    assert response.status_code == 200
    assert body["code"] == "200" and body["userId"] == DEMO_USER_ID
    assert jwt_part(body["token"], 0) == {"typ": "JWT", "alg": "HS256"}
    payload = jwt_part(body["token"], 1)
    assert set(payload) == {"aud", "iat", "exp"} and payload["exp"] - payload["iat"] == 3600
    assert sqlflow_standin.tokens_issued == 1
    recorded = sqlflow_standin.calls("/user/generateToken")[0]
    assert recorded.content_type == "application/x-www-form-urlencoded"
    assert recorded.form == {"userId": DEMO_USER_ID, "secretKey": SECRET}


def test_every_token_is_new_even_within_one_second(sqlflow_standin):
    assert len({token_for(sqlflow_standin) for _ in range(3)}) == 3


def test_generate_token_accepts_query_string_parameters(sqlflow_standin):
    body = post(
        sqlflow_standin, "/user/generateToken", params={"userId": DEMO_USER_ID, "secretKey": SECRET}
    ).json()
    assert body["code"] == "200"


def test_wrong_secret_is_an_in_body_string_401_at_http_200(sqlflow_standin):
    response = post(
        sqlflow_standin, "/user/generateToken", data={"userId": DEMO_USER_ID, "secretKey": "nope"}
    )
    assert response.status_code == 200
    assert response.json() == {"code": "401", "error": DENIED}
    assert sqlflow_standin.tokens_issued == 0


@pytest.mark.parametrize(
    "credentials",
    [{}, {"userId": DEMO_USER_ID}, {"userId": DEMO_USER_ID, "token": "not-a-jwt"}, {"token": "x"}],
    ids=["nothing", "no-token", "bad-token", "no-user"],
)
def test_lineage_endpoints_answer_401_in_body_without_a_valid_token(sqlflow_standin, credentials):
    response = post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data=credentials)
    assert response.status_code == 200
    assert response.json() == {"code": 401, "error": DENIED}


def test_a_token_is_bound_to_its_user(sqlflow_standin):
    body = post(
        sqlflow_standin,
        "/sqlflow/job/displayUserJobsSummary",
        data={"userId": "someone|else", "token": token_for(sqlflow_standin)},
    )
    assert body.json()["code"] == 401


def test_tokens_expire_after_their_ttl():
    with SQLFlowStandIn(token_ttl_s=0.3) as standin:
        credentials = auth(standin)
        assert post(standin, "/sqlflow/job/displayUserJobsSummary", data=credentials).json()["code"] == 200
        time.sleep(0.4)
        assert post(standin, "/sqlflow/job/displayUserJobsSummary", data=credentials).json()["code"] == 401


def test_expire_tokens_invalidates_issued_tokens_but_not_new_ones(sqlflow_standin):
    old = auth(sqlflow_standin)
    sqlflow_standin.expire_tokens()
    assert post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data=old).json()["code"] == 401
    fresh = auth(sqlflow_standin)
    assert post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data=fresh).json()["code"] == 200
    assert sqlflow_standin.tokens_issued == 2


def test_legacy_on_prem_user_uses_the_literal_token(sqlflow_standin):
    legacy = {"userId": "gudu|0123456789", "token": "token"}
    body = post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data=legacy).json()
    assert body["code"] == 200 and body["data"]["total"] == 4
    assert {job["userId"] for job in body["data"]["jobDetails"]} == {"gudu|0123456789"}
    wrong = post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data={**legacy, "token": "x"}).json()
    assert wrong["code"] == 401


# ---- transport --------------------------------------------------------------------------------------
def test_json_body_is_a_spring_style_http_400(sqlflow_standin):
    response = post(
        sqlflow_standin, "/sqlflow/generation/sqlflow", json={**auth(sqlflow_standin), "sqltext": "x"}
    )
    body = response.json()
    assert response.status_code == 400
    assert set(body) == {"timestamp", "status", "error", "path"}
    assert body["status"] == 400 and body["error"] == "Bad Request"
    assert body["path"] == "/gspLive_backend/sqlflow/generation/sqlflow"


def test_only_post_is_allowed(sqlflow_standin):
    response = requests.get(f"{sqlflow_standin.base_url}/sqlflow/job/displayUserJobsSummary", timeout=10)
    assert response.status_code == 405 and response.json()["error"] == "Method Not Allowed"
    assert requests.post(f"{sqlflow_standin.base_url}/nope", timeout=10).status_code == 404


def test_busy_answers_http_500_for_the_next_n_calls(sqlflow_standin):
    credentials = auth(sqlflow_standin)
    sqlflow_standin.set_busy(2)
    for _ in range(2):
        response = post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data=credentials)
        assert response.status_code == 500 and response.json() == {"code": 500, "error": BUSY}
    assert (
        post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data=credentials).json()["code"] == 200
    )


def test_fail_next_injects_one_answer_on_one_path(sqlflow_standin):
    sqlflow_standin.fail_next("/user/generateToken", http_status=502, body="<html>bad gateway</html>")
    first = post(sqlflow_standin, "/user/generateToken", data={"userId": DEMO_USER_ID, "secretKey": SECRET})
    assert first.status_code == 502 and first.text == "<html>bad gateway</html>"
    assert token_for(sqlflow_standin)


# ---- query mode -------------------------------------------------------------------------------------
def query(standin, sql, **params):
    data = {**auth(standin), "dbvendor": "dbvpostgresql", "sqltext": sql, **params}
    return post(standin, "/sqlflow/generation/sqlflow", data=data).json()


def test_query_mode_lineage_goes_through_intermediates_to_real_tables(sqlflow_standin):
    sql = "\n".join(
        (SQL_DIR / f).read_text() for f in ("orders_enriched.sql", "daily_revenue.sql", "customer_ltv.sql")
    )
    body = query(sqlflow_standin, sql)

    assert body["code"] == 200 and "error" not in body
    assert re.fullmatch(r"[0-9a-f]{64}_\d{13}", body["sessionId"])
    data = body["data"]
    assert set(data) == {"dbvendor", "dbobjs", "relationships"}
    assert table_edges(data) == MAIN_EDGES
    types = {o["name"]: o["type"] for o in data["dbobjs"]}
    assert types["INSERT-SELECT-1"] == "insert-select" and types["RS-2"] == "select_list"
    assert types["QUERY INSERT-1"] == "process" and types["STAGING.ORDERS_ENRICHED"] == "table"
    for rel in data["relationships"]:
        assert isinstance(rel["id"], str) and isinstance(rel["target"]["id"], str) and rel["type"] == "fdd"
        if rel["effectType"] in ("insert", "create_table"):  # real tables are only ever fed by intermediates
            assert {types[s["parentName"]] for s in rel["sources"]} <= {"insert-select", "select_list"}


def test_sql_file_upload_works_like_sqltext(sqlflow_standin):
    files = {"sqlfile": ("orders_enriched.sql", (SQL_DIR / "orders_enriched.sql").read_bytes())}
    data = {**auth(sqlflow_standin), "dbvendor": "dbvpostgresql"}
    body = post(sqlflow_standin, "/sqlflow/generation/sqlflow", data=data, files=files).json()
    assert table_edges(body["data"]) == {
        ("RAW.ORDERS", "STAGING.ORDERS_ENRICHED"),
        ("RAW.CUSTOMERS", "STAGING.ORDERS_ENRICHED"),
    }
    assert sqlflow_standin.calls("/sqlflow/generation/sqlflow")[0].content_type == "multipart/form-data"


def test_query_without_sql_is_a_spring_style_http_400(sqlflow_standin):
    response = post(sqlflow_standin, "/sqlflow/generation/sqlflow", data=auth(sqlflow_standin))
    assert response.status_code == 400 and response.json()["error"] == "Bad Request"


def test_orphan_column_gives_code_203_with_warnings(sqlflow_standin):
    body = query(sqlflow_standin, (SQL_DIR / "exec_dashboard.sql").read_text())

    assert body["code"] == 203
    assert body["error"] == (
        "find orphan column(10500) near: lifetime_value(5,41)\r\n"
        "Link orphan column [lifetime_value] to the first table [analytics.daily_revenue AS d]"
    )
    assert [e["errorType"] for e in body["data"]["errors"]] == ["SyntaxHint", "LinkOrphanColumn"]
    assert table_edges(body["data"]) == {
        ("ANALYTICS.DAILY_REVENUE", "REPORTING.EXEC_DASHBOARD"),
        ("ANALYTICS.CUSTOMER_LTV", "REPORTING.EXEC_DASHBOARD"),
    }


def test_syntax_errors_are_reported_next_to_what_parsed(sqlflow_standin):
    body = query(sqlflow_standin, "INSERT INTO a.t (x) SELECT s.x FROM a.s AS s;\nSELEC broken FROM nowhere;")
    assert body["code"] == 203
    assert body["error"] == "syntax error, state:1(10102) near: FROM(2,14)"
    assert table_edges(body["data"]) == {("A.S", "A.T")}


def test_fdr_adds_a_system_pseudo_column(sqlflow_standin):
    body = query(sqlflow_standin, (SQL_DIR / "orders_enriched.sql").read_text(), showRelationType="fdd,fdr")
    data = body["data"]
    fdr = [r for r in data["relationships"] if r["type"] == "fdr"]
    assert fdr and all(r["target"]["column"] == "RelationRows" for r in fdr)
    pseudo = [c for o in data["dbobjs"] for c in o.get("columns", []) if c["name"] == "RelationRows"]
    assert pseudo and all(c["source"] == "system" for c in pseudo)
    clauses = {(s["parentName"], s["column"], s.get("clauseType")) for r in fdr for s in r["sources"]}
    assert ("RAW.ORDERS", "STATUS", "where") in clauses


def test_over_the_relation_limit_only_a_summary_comes_back():
    with SQLFlowStandIn(relation_limit=5) as standin:
        sql = (SQL_DIR / "orders_enriched.sql").read_text()
        body = query(standin, sql)
        assert body["code"] == 200
        assert body["data"]["mode"] == "summary" and set(body["data"]) == {"mode", "summary"}
        assert body["data"]["summary"]["relationship"] == 14
        full = query(standin, sql, returnFullRelationship="true")
        assert len(full["data"]["relationships"]) == 14


# ---- jobs -------------------------------------------------------------------------------------------
def test_jobs_summary_lists_the_demo_jobs_newest_first(sqlflow_standin):
    data = post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data=auth(sqlflow_standin)).json()[
        "data"
    ]

    assert (data["total"], data["success"], data["partialSuccess"], data["fail"]) == (4, 2, 1, 1)
    names = [job["jobName"] for job in data["jobDetails"]]
    assert names == ["broken_upload", "finance_partial", "reporting_views", "nightly_marts"]
    assert data["jobIds"] == [job["jobId"] for job in data["jobDetails"]]
    nightly = data["jobDetails"][3]
    assert nightly["status"] == "success" and nightly["userId"] == DEMO_USER_ID
    assert (
        nightly["createTime"] == "2026-11-20 02:00:00" and nightly["lastExecuteTime"] == "2026-11-21 02:00:07"
    )
    assert nightly["fileNames"] == ["nightly_marts.sql"] and nightly["showRelationType"] == "fdd"
    assert nightly["ignoreRecordSet"] is True and re.fullmatch(r"[0-9a-f]{32}", nightly["jobId"])
    assert "lastExecuteTime" not in data["jobDetails"][1]  # finance_partial never re-ran


def job_details(standin, job_name):
    details = post(standin, "/sqlflow/job/displayUserJobsSummary", data=auth(standin)).json()["data"][
        "jobDetails"
    ]
    return next(job for job in details if job["jobName"] == job_name)


def test_failed_job_has_status_fail_and_an_error_message(sqlflow_standin):
    job = job_details(sqlflow_standin, "broken_upload")
    assert job["status"] == "fail"
    assert job["errorMessage"] == "Analyze sql failed: syntax error, state:1(10102) near: orders(6,50)"


def test_unknown_job_is_an_in_body_404(sqlflow_standin):
    data = {**auth(sqlflow_standin), "jobId": "0" * 32}
    assert post(sqlflow_standin, "/sqlflow/job/exportLineageAsJson", data=data).json()["code"] == 404


def test_nightly_marts_export_is_flat_with_relationships(sqlflow_standin):
    body = export(sqlflow_standin, "nightly_marts")

    assert body["code"] == 200 and body["jobId"] == sqlflow_standin.job("nightly_marts").job_id
    assert body["data"]["mode"] == "global"
    sqlflow = body["data"]["sqlflow"]
    assert isinstance(sqlflow["dbobjs"], list) and "relations" not in sqlflow
    assert table_edges(sqlflow) == MAIN_EDGES


def test_reporting_views_export_is_a_servers_tree_with_relations_and_warnings(sqlflow_standin):
    body = export(sqlflow_standin, "reporting_views")

    assert body["code"] == 203 and body["error"].count("\r\n") == 1
    sqlflow = body["data"]["sqlflow"]
    assert "relationships" not in sqlflow and sqlflow["relations"]
    server = sqlflow["dbobjs"]["servers"][0]
    assert server["name"] == "DEFAULT_SERVER" and server["databases"][0]["name"] == "DEFAULT"
    views = [v for s in server["databases"][0]["schemas"] for v in s["views"]]
    assert [(v["name"], v["type"]) for v in views] == [("EXEC_DASHBOARD", "view")]
    assert table_edges(sqlflow) == {
        ("ANALYTICS.DAILY_REVENUE", "REPORTING.EXEC_DASHBOARD"),
        ("ANALYTICS.CUSTOMER_LTV", "REPORTING.EXEC_DASHBOARD"),
    }
    assert any(r["type"] == "fdr" for r in sqlflow["relations"])  # the job was set up with fdd,fdr
    pseudo = {c["name"] for v in views for c in v["columns"] if c.get("source") == "system"}
    assert pseudo == {"PseudoRows"}


def test_job_export_can_add_relation_types_to_the_frozen_job_settings(sqlflow_standin):
    plain = export(sqlflow_standin, "nightly_marts")["data"]["sqlflow"]["relationships"]
    richer = export(sqlflow_standin, "nightly_marts", showRelationType="fdr")["data"]["sqlflow"][
        "relationships"
    ]
    assert {r["type"] for r in plain} == {"fdd"} and {r["type"] for r in richer} == {"fdd", "fdr"}


def test_query_mode_shape_is_configurable():
    with SQLFlowStandIn(query_layout="tree", query_relations_key="relations") as standin:
        data = query(standin, (SQL_DIR / "orders_enriched.sql").read_text())["data"]
        assert "servers" in data["dbobjs"] and "relationships" not in data
        assert table_edges(data) == {
            ("RAW.ORDERS", "STAGING.ORDERS_ENRICHED"),
            ("RAW.CUSTOMERS", "STAGING.ORDERS_ENRICHED"),
        }


def test_partial_job_has_the_scratch_cycle_and_a_syntax_error(sqlflow_standin):
    body = export(sqlflow_standin, "finance_partial")
    assert body["code"] == 203 and body["error"] == "syntax error, state:1(10102) near: SELEC(3,1)"
    assert table_edges(body["data"]["sqlflow"]) == {
        ("SCRATCH.PAYMENT_RECON_B", "SCRATCH.PAYMENT_RECON_A"),
        ("SCRATCH.PAYMENT_RECON_A", "SCRATCH.PAYMENT_RECON_B"),
    }


def test_export_without_job_id_silently_exports_the_latest_job(sqlflow_standin):
    body = post(sqlflow_standin, "/sqlflow/job/exportLineageAsJson", data=auth(sqlflow_standin)).json()
    assert body["jobId"] == sqlflow_standin.job("broken_upload").job_id
    assert table_edges(body["data"]["sqlflow"]) == {("RAW.ORDERS", "SCRATCH.BROKEN_UPLOAD_TARGET")}


def test_update_job_moves_last_execute_time(sqlflow_standin):
    job = sqlflow_standin.update_job("finance_partial", status="success")
    assert (job.status, job.last_execute_time) == ("success", "2026-11-20 05:30:00")
    summary = job_details(sqlflow_standin, "finance_partial")
    assert (summary["status"], summary["lastExecuteTime"]) == ("success", "2026-11-20 05:30:00")
    sqlflow_standin.add_job(
        DemoJob(job_name="extra", files={"x.sql": "SELECT 1"}, create_time="2026-11-22 00:00:00")
    )
    data = post(sqlflow_standin, "/sqlflow/job/displayUserJobsSummary", data=auth(sqlflow_standin)).json()[
        "data"
    ]
    assert data["total"] == 5 and data["jobDetails"][0]["jobName"] == "extra"


def test_runs_as_a_process_until_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "demo.sqlflow_standin", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/gspLive_backend", base_url)
        body = requests.post(
            f"{base_url}/user/generateToken", data={"userId": DEMO_USER_ID, "secretKey": SECRET}, timeout=10
        ).json()
        assert body["code"] == "200"
    finally:
        process.terminate()
    assert process.wait(timeout=10) == 0
