"""Gudu's own SQLFlow bodies (tests/recordings/sqlflow, each file's source in its README): parsed, and served
over real HTTP through the real source and auth into the marts, edge by edge."""

import json
from collections.abc import Iterator

import duckdb
import pytest

from demo.sqlflow_standin import SQLFlowStandIn
from orchestration.warehouse.pipelines import make_pipeline
from sources.sqlflow import SQLFlowAuthError, sqlflow_source
from sources.sqlflow.client import SQLFlowClient
from sources.sqlflow.lineage import normalise_lineage
from sources.sqlflow.source import job_options, job_row
from tests.fixtures.dbt_cli import dbt
from tests.fixtures.paths import SQLFLOW_RECORDINGS

RECORDINGS = SQLFLOW_RECORDINGS
TOKEN_PATH = "/user/generateToken"
JOBS_PATH = "/sqlflow/job/displayUserJobsSummary"


def recorded(name: str) -> dict:
    return json.loads((RECORDINGS / name).read_text())


def lineage_data(name: str) -> dict:
    """The `data` of a recorded answer; the lineage-model docs' Oracle sample is that `data` alone."""
    body = recorded(name)
    return body if "dbobjs" in body else body["data"]


def edges(rows) -> list[tuple]:
    return [
        (
            r["relationship_type"],
            r["source_object_id"],
            r["source_object_name"],
            r["source_column"],
            r["target_object_id"],
            r["target_object_name"],
            r["target_column"],
        )
        for r in rows.relationships
    ]


# ---- parsed: exact rows ---------------------------------------------------------------------------------


def test_python_and_java_samples_of_one_job_give_the_same_rows():
    python = normalise_lineage(lineage_data("job_exportLineageAsJson.code203_python_sample.json"))
    java = normalise_lineage(lineage_data("job_exportLineageAsJson.code203_relations_2021.json"))

    assert (len(python.objects), len(python.columns), python.relationship_count, len(python.warnings)) == (
        16,
        60,
        32,
        6,
    )
    assert (python.objects, python.columns, python.relationships) == (
        java.objects,
        java.columns,
        java.relationships,
    )


def test_lineage_model_doc_oracle_sample_gives_every_edge_with_its_clause():
    rows = normalise_lineage(lineage_data("lineage_model_doc.oracle_lineage.json"))

    assert [(o["object_id"], o["object_name"], o["object_type"]) for o in rows.objects] == [
        ("6", "Query Insert", "process"),
        ("2", "deptsal", "table"),
        ("8", "dept", "table"),
        ("17", "emp", "table"),
        ("25", "SQL_CONSTANTS", "constantTable"),
        ("15", "RESULT_OF_E", "select_list"),
        ("28", "INSERT-SELECT-1", "insert-select"),
        ("33", "FUNCTION-1", "function"),
        ("36", "FUNCTION-2", "function"),
    ]
    assert rows.relationship_count == 23
    fdd = [(r["source_object_name"], r["source_column"], r["target_object_name"], r["target_column"])
           for r in rows.relationships if r["relationship_type"] == "fdd"]  # fmt: skip
    assert fdd == [
        ("emp", "sal", "RESULT_OF_E", "SAL"),
        ("emp", "comm", "RESULT_OF_E", "COMM"),
        ("emp", "hiredate", "RESULT_OF_E", "HIREDATE"),
        ("emp", "deptno", "RESULT_OF_E", "DEPTNO"),
        ("emp", "hiredate", "RESULT_OF_E", "*"),
        ("emp", "deptno", "RESULT_OF_E", "*"),
        ("emp", "sal", "RESULT_OF_E", "*"),
        ("emp", "comm", "RESULT_OF_E", "*"),
        ("emp", "*", "RESULT_OF_E", "*"),
        ("dept", "deptno", "INSERT-SELECT-1", "deptno"),
        ("dept", "dname", "INSERT-SELECT-1", "dname"),
        ("FUNCTION-1", "SUM", "INSERT-SELECT-1", "sal"),
        ("FUNCTION-2", "Nvl", "FUNCTION-1", "SUM"),
        ("RESULT_OF_E", "COMM", "FUNCTION-2", "Nvl"),
        ("SQL_CONSTANTS", "0", "FUNCTION-2", "Nvl"),
        ("RESULT_OF_E", "SAL", "FUNCTION-1", "SUM"),
        ("INSERT-SELECT-1", "deptno", "deptsal", "dept_no"),
        ("INSERT-SELECT-1", "dname", "deptsal", "dept_name"),
        ("INSERT-SELECT-1", "sal", "deptsal", "salary"),
    ]
    clauses = {
        (r["source_object_name"], r["source_clause_type"])
        for r in rows.relationships
        if r["source_clause_type"]
    }
    assert clauses == {("emp", "where"), ("dept", "joinCondition")}
    assert len(rows.relationships) - len(fdd) == 10  # fdr: row-count edges, kept raw, not column lineage


def test_lineage_model_doc_servers_tree_in_its_three_layouts_with_package_members():
    rows = normalise_lineage(lineage_data("lineage_model_doc.servers_tree.json"))

    assert [
        (o["object_id"], o["qualified_name"], o["object_type"], o["server_name"]) for o in rows.objects
    ] == [
        ("96", "table1", "table", "default_server"),
        ("12", "HumanResources.Employee", "table", "default_server"),
        ("56", "OE.ORDERS", "table", "DB_SERVER_SCHEMA_ONLY"),
        ("26", "OE.package1", "package", "DB_SERVER_SCHEMA_ONLY"),
        ("name:oe.package1.procedure1", "OE.package1.procedure1", "procedure", "DB_SERVER_SCHEMA_ONLY"),
        ("42", "OE.package2", "package", "DB_SERVER_SCHEMA_ONLY"),
        ("name:oe.package2.procedure1", "OE.package2.procedure1", "procedure", "DB_SERVER_SCHEMA_ONLY"),
    ]
    assert [(c["object_id"], c["column_id"], c["column_name"]) for c in rows.columns] == [
        ("96", "110", "field9"),
        ("96", "111", "field1"),
        ("96", "116", "field5"),
        ("12", "13", "BusinessEntityID"),
        ("12", "14", "HireDate"),
        ("56", "57", "ORDER_ID"),
    ]
    assert edges(rows) == [("fdd", "85", "INSERT-SELECT-1", "CL", "52", "MEDIUM_ORDERS", "CL")]
    assert rows.relationships[0]["process_id"] == "48"
    assert rows.warnings == [
        "relationship 56: MEDIUM_ORDERS, INSERT-SELECT-1 not among the objects of the answer; edge left out"
    ]


def test_self_hosted_6x_answer_with_named_edge_ends_gets_their_ids_and_says_what_it_cannot_place():
    rows = normalise_lineage(
        lineage_data("generation_exportFullLineageAsJson.self_hosted_6x_datahub_mock.json")
    )

    assert edges(rows) == [
        ("fdd", "11", "ALL_ARTICLES", "ORIGINAL", "16", "ARRAY_AGG", "ARRAY_AGG"),
        ("fdd", "16", "ARRAY_AGG", "ARRAY_AGG", "7", "RS-1", "UNIQUE"),
        ("fdd", "7", "RS-1", "UNIQUE", "19", "RS-2", "UNIQUE"),
        ("fdd", "19", "RS-2", "UNIQUE", None, "DEDUPLICATED_ARTICLES", "UNIQUE"),
    ]
    assert rows.warnings == [
        "relationship 5_0: DEDUPLICATED_ARTICLES not among the objects of the answer; edge left out"
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "job_displayUserJobSummary.response.json",
            ("939fdbbaf52b45139b86c0761d6036b0", "success", "2022-10-04 10:45:05", "fdd", "true"),
        ),
        # a job just submitted gives no options: the source's own are used
        ("job_submitPersistJob.response.json", ("c359aef4bd9641d697732422debd8055", "create", "2020-12-15 15:14:39", "fdd,fdr", "false")),
    ],
)  # fmt: skip
def test_recorded_job_objects_give_their_row_and_export_options(name, expected):
    row = job_row(recorded(name)["data"])
    options = job_options(row, {"showRelationType": "fdd,fdr", "ignoreRecordSet": "false"})

    assert (row["job_id"], row["status"], f"{row['changed_at']:%Y-%m-%d %H:%M:%S}") == expected[:3]
    assert (options["showRelationType"], options["ignoreRecordSet"]) == expected[3:]


# ---- over real HTTP: generateToken and a rejected token, as Gudu's tests answer them ----------------------


@pytest.fixture
def client(sqlflow_standin, monkeypatch) -> SQLFlowClient:
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    return SQLFlowClient(sqlflow_standin.base_url, "real-user", "sk-local", request_timeout=10)


def test_recorded_generate_token_success_gives_the_top_level_token(client, sqlflow_standin):
    sqlflow_standin.fail_next(TOKEN_PATH, 200, recorded("user_generateToken.success.json"))
    sqlflow_standin.fail_next(JOBS_PATH, 200, {"code": 200, "data": {"jobDetails": []}})

    client.call(JOBS_PATH.lstrip("/"), {})

    assert sqlflow_standin.calls(JOBS_PATH)[0].form["token"] == "jwt-abc"
    assert sqlflow_standin.calls(TOKEN_PATH)[0].form == {"userId": "real-user", "secretKey": "sk-local"}


def test_recorded_generate_token_failure_is_a_clear_auth_error_without_the_secret(client, sqlflow_standin):
    sqlflow_standin.fail_next(TOKEN_PATH, 200, recorded("user_generateToken.failure.json"))

    with pytest.raises(SQLFlowAuthError) as raised:
        client.call(JOBS_PATH.lstrip("/"), {})

    assert str(raised.value).startswith(
        "SQLFlow user/generateToken rejected userId 'real-user' and its secret key "
        "(code 401: Invalid user or token, access deny.)"
    )
    assert "sk-local" not in str(raised.value)
    assert sqlflow_standin.calls(JOBS_PATH) == []


def test_recorded_token_rejection_gets_a_new_token_and_one_resend(client, sqlflow_standin):
    sqlflow_standin.fail_next(TOKEN_PATH, 200, {"code": "200", "userId": "real-user", "token": "jwt-old"})
    sqlflow_standin.fail_next(JOBS_PATH, 200, recorded("lineage.token_rejected.json"))
    sqlflow_standin.fail_next(TOKEN_PATH, 200, recorded("user_generateToken.success.json"))
    sqlflow_standin.fail_next(JOBS_PATH, 200, {"code": 200, "data": {"jobDetails": []}})

    envelope = client.call(JOBS_PATH.lstrip("/"), {})

    assert envelope.data == {"jobDetails": []}
    assert [call.form["token"] for call in sqlflow_standin.calls(JOBS_PATH)] == ["jwt-old", "jwt-abc"]


# ---- over real HTTP into the marts: every lineage recording, one SQL file each ----------------------------

SERVED = {
    "oracle": "lineage_model_doc.oracle_lineage.json",
    "python": "job_exportLineageAsJson.code203_python_sample.json",
    "tree": "lineage_model_doc.servers_tree.json",
    "datahub": "generation_exportFullLineageAsJson.self_hosted_6x_datahub_mock.json",
    "ui": "generation_sqlflow_graph.ui_download_relationships.json",
}


def served_body(name: str) -> dict:
    body = recorded(name)
    return {"code": 200, "data": body} if "dbobjs" in body else body


@pytest.fixture(scope="module")
def marts(tmp_path_factory) -> Iterator[duckdb.DuckDBPyConnection]:
    """One SQL file per recording; the stand-in answers each with its recorded body; load, then build."""
    workdir = tmp_path_factory.mktemp("recordings")
    sql_dir = workdir / "sql"
    sql_dir.mkdir()
    with pytest.MonkeyPatch.context() as env, SQLFlowStandIn(jobs=[]) as standin:
        env.setenv("DUCKDB_PATH", str(workdir / "warehouse.duckdb"))
        env.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        env.setenv("SOURCES__SQLFLOW__BASE_URL", standin.base_url)
        env.setenv("SOURCES__SQLFLOW__USER_ID", "demo|taskline")
        env.setenv("SOURCES__SQLFLOW__SECRET_KEY", "taskline-demo-secret")
        env.setenv("SOURCES__SQLFLOW__SQL_PATHS", json.dumps([f"{sql_dir}/*.sql"]))
        for key, name in SERVED.items():
            (sql_dir / f"{key}.sql").write_text(f"-- recording {key}\nselect 1;\n")
            standin.answer_sql(f"recording {key}\n", body=served_body(name))
        make_pipeline("sqlflow").run(sqlflow_source().with_resources("query_lineage"))
        dbt(
            "build",
            workdir,
            "--select",
            "source:sqlflow+",
            "--exclude",
            "task_failure_impact+ task_schedules+",
        )
    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as connection:
        yield connection


def column_edges(marts, key: str) -> list[tuple]:
    return marts.sql(
        f"""select source_table, source_column, target_table, target_column from marts.lineage_column_edges
            where origin like '%/{key}.sql' order by all"""
    ).fetchall()


def warnings(marts, key: str) -> str | None:
    return marts.sql(
        f"select warnings from sqlflow.query_lineage where sql_file like '%/{key}.sql'"
    ).fetchall()[0][0]


@pytest.mark.integration  # loads and runs dbt build
def test_every_recording_loads_as_one_sql_file_without_failures(marts):
    assert marts.sql("select count(*) from sqlflow.query_lineage").fetchall() == [(len(SERVED),)]
    assert marts.sql("select count(*) from staging.stg_sqlflow__lineage_failures").fetchall() == [(0,)]


@pytest.mark.integration  # loads and runs dbt build
def test_oracle_sample_resolves_through_result_set_insert_select_and_functions(marts):
    assert column_edges(marts, "oracle") == [
        ("dept", "deptno", "deptsal", "dept_no"),
        ("dept", "dname", "deptsal", "dept_name"),
        ("emp", "comm", "deptsal", "salary"),
        ("emp", "sal", "deptsal", "salary"),
    ]


@pytest.mark.integration  # loads and runs dbt build
def test_python_sample_of_code_203_keeps_its_edges_and_warnings(marts):
    assert column_edges(marts, "python") == [
        ("dimsalesterritory", "salesterritoryregion", "view1", "salesterritoryregion"),
        ("factinternetsales", "customerkey", "view1", "customerkey"),
        ("factinternetsales", "orderdatekey", "view1", "orderdatekey"),
        ("factinternetsales", "productkey", "view1", "productkey"),
        ("factinternetsales", "salesterritorykey", "view1", "salesterritorykey"),
        ("humanresources.employee", "businessentityid", "hiredate_view", "businessentityid"),
        ("humanresources.employee", "hiredate", "hiredate_view", "hiredate"),
        ("person.person", "firstname", "hiredate_view", "firstname"),
        ("person.person", "lastname", "dbo.employeesales", "lastname"),
        ("person.person", "lastname", "hiredate_view", "lastname"),
        ("sales.salesperson", "businessentityid", "dbo.employeesales", "businessentityid"),
        ("sales.salesperson", "salesytd", "dbo.employeesales", "salesdollars"),
    ]
    assert warnings(marts, "python").splitlines()[-1] == (
        "Link orphan column [TerritoryID] to the first table [Sales.SalesPerson s]"
    )


@pytest.mark.integration  # loads and runs dbt build
def test_servers_tree_edge_to_objects_the_doc_leaves_out_is_said_not_dropped_quietly(marts):
    assert column_edges(marts, "tree") == []
    assert warnings(marts, "tree") == (
        "error msgs\nrelationship 56: MEDIUM_ORDERS, INSERT-SELECT-1 not among the objects of the answer; "
        "edge left out"
    )


@pytest.mark.integration  # loads and runs dbt build
def test_self_hosted_6x_answer_whose_target_is_not_among_its_objects_says_so(marts):
    assert (
        column_edges(marts, "datahub") == []
    )  # the chain ends at DEDUPLICATED_ARTICLES, which it never lists
    assert warnings(marts, "datahub") == (
        "relationship 5_0: DEDUPLICATED_ARTICLES not among the objects of the answer; edge left out"
    )


@pytest.mark.integration  # loads and runs dbt build
def test_a_bare_select_flows_into_its_result_set_only_no_table_edge(marts):
    assert column_edges(marts, "ui") == []  # ignoreRecordSet=true: RS-1 is the only target, not a table
    assert warnings(marts, "ui") is None
