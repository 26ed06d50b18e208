"""Normalisation of SQLFlow lineage answers into rows: pure functions run on the vendor's published bodies."""

import json
from datetime import datetime

import pytest

from sources.sqlflow.lineage import joined_warnings, normalise_lineage, qualify
from sources.sqlflow.source import job_row
from tests.fixtures.paths import SQLFLOW_RECORDINGS

SAMPLES = SQLFLOW_RECORDINGS  # verbatim vendor bodies (sqlflow-api.md §11)


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@pytest.mark.parametrize(
    ("name", "objects", "columns", "relationships", "relationship_rows", "warnings"),
    [
        # query mode: the lineage sits directly in `data`
        ("generation_sqlflow.response.json", 2, 3, 0, 0, 0),
        # job export: the lineage sits in `data.sqlflow`
        ("job_exportLineageAsJson.doc_sample.json", 2, 3, 0, 0, 0),
        ("generation_sqlflow_graph.response.json", 4, 6, 2, 3, 2),
        ("generation_sqlflow_graph.ui_download_relationships.json", 5, 13, 5, 5, 0),
        # the older key `relations`, code 203 with errors[]
        ("job_exportLineageAsJson.code203_relations_2021.json", 16, 60, 32, 33, 6),
    ],
)
def test_vendor_samples_give_exact_row_counts(
    name, objects, columns, relationships, relationship_rows, warnings
):
    rows = normalise_lineage(sample(name)["data"])

    assert len(rows.objects) == objects
    assert len(rows.columns) == columns
    assert rows.relationship_count == relationships
    assert len(rows.relationships) == relationship_rows
    assert len(rows.warnings) == warnings


def test_flat_objects_keep_names_types_and_string_ids():
    rows = normalise_lineage(sample("generation_sqlflow.response.json")["data"])

    assert rows.objects == [
        {
            "object_id": "8",
            "object_name": "QUERY INSERT-1",
            "qualified_name": "QUERY INSERT-1",
            "object_type": "process",
            "sub_type": None,
            "server_name": None,
            "database_name": None,
            "schema_name": None,
        },
        {
            "object_id": "4",
            "object_name": "RAW_CUSTOMERS",
            "qualified_name": "RAW_CUSTOMERS",
            "object_type": "table",
            "sub_type": None,
            "server_name": None,
            "database_name": None,
            "schema_name": None,
        },
    ]
    assert [c["column_name"] for c in rows.columns] == ["ID", "FIRST_NAME", "LAST_NAME"]
    assert {c["object_id"] for c in rows.columns} == {"4"}


def test_unknown_and_intermediate_types_are_kept_as_given():
    rows = normalise_lineage(sample("job_exportLineageAsJson.code203_relations_2021.json")["data"])

    types = sorted({o["object_type"] for o in rows.objects})
    assert types == ["insert-select", "procedure", "pseudoTable", "select_list", "table", "view"]
    procedure = next(o for o in rows.objects if o["object_type"] == "procedure")
    assert procedure["object_name"] == procedure["qualified_name"] == "dbo.uspGetEmployeeSales"
    assert procedure["schema_name"] == "dbo"


def test_relationship_with_two_sources_gives_one_row_per_source_in_order():
    rows = normalise_lineage(sample("job_exportLineageAsJson.code203_relations_2021.json")["data"])

    edge = [r for r in rows.relationships if r["relationship_id"] == "4107"]
    assert [(r["source_position"], r["source_object_name"], r["source_column"]) for r in edge] == [
        (0, "Sales.SalesPerson", "SalesYTD"),
        (1, "Person.Address", "PostalCode"),
    ]
    assert {r["target_column"] for r in edge} == {'"Row Number"'}


def test_fdr_edges_keep_clause_type_and_system_columns_their_source():
    rows = normalise_lineage(sample("generation_sqlflow_graph.response.json")["data"])

    fdr = [r for r in rows.relationships if r["relationship_type"] == "fdr"]
    assert [(r["source_object_name"], r["source_column"], r["source_clause_type"]) for r in fdr] == [
        ("EMP", "DEPTID", "where"),
        ("DEPT", "ID", "where"),
    ]
    assert {r["target_column"] for r in fdr} == {"RELATIONROWS"}
    system = [c for c in rows.columns if c["column_source"]]
    assert [(c["column_name"], c["column_source"]) for c in system] == [("RELATIONROWS", "SYSTEM")]
    assert rows.warnings == [
        "find orphan column(10500) near: ename(1,8)",
        "Link orphan column [ename] to the first table [emp]",
    ]


def test_star_expanded_column_ids_stay_strings():
    rows = normalise_lineage(sample("generation_sqlflow_graph.ui_download_relationships.json")["data"])

    target_ids = sorted(r["target_column_id"] for r in rows.relationships)
    assert target_ids == ["28_0", "28_1", "28_2", "29", "29"]


SERVERS_TREE = {
    "sqlflow": {
        "dbobjs": {
            "createdBy": "test",
            "servers": [
                {
                    "name": "DEFAULT_SERVER",
                    "databases": [
                        {
                            "name": "DEFAULT",
                            "schemas": [
                                {
                                    "name": "RAW",
                                    "tables": [
                                        {"id": 3, "name": "ORDERS", "columns": [{"id": 4, "name": "ID"}]}
                                    ],
                                },
                                {
                                    "name": "DEFAULT",
                                    "others": [{"id": "9", "name": "RS-1", "type": "select_list"}],
                                },
                            ],
                        },
                        # catalog-only layout: objects right under the database
                        {"name": "SHOP", "views": [{"id": "11", "name": "V_SALES", "subType": "temp"}]},
                    ],
                },
                # schema-only layout: schemas right under the server
                {
                    "name": "mysql1",
                    "schemas": [
                        {"name": "analytics", "functions": [{"id": "20", "name": "F", "type": "fn"}]}
                    ],
                },
            ],
        },
        "relations": [
            {"id": 7, "type": "fdd", "target": {"id": "10", "column": "ID", "parentId": "9"}, "sources": []},
        ],
    }
}


def test_servers_tree_in_all_three_layouts_with_placeholders_dropped():
    rows = normalise_lineage(SERVERS_TREE)

    assert [
        (
            o["object_id"],
            o["qualified_name"],
            o["object_type"],
            o["server_name"],
            o["database_name"],
            o["schema_name"],
        )
        for o in rows.objects
    ] == [
        ("3", "RAW.ORDERS", "table", "DEFAULT_SERVER", "DEFAULT", "RAW"),
        ("9", "RS-1", "select_list", "DEFAULT_SERVER", "DEFAULT", "DEFAULT"),
        ("11", "SHOP.V_SALES", "view", "DEFAULT_SERVER", "SHOP", None),
        ("20", "analytics.F", "fn", "mysql1", None, "analytics"),
    ]
    assert rows.objects[2]["sub_type"] == "temp"
    assert rows.columns == [{"object_id": "3", "column_id": "4", "column_name": "ID", "column_source": None}]


def test_relationship_without_sources_keeps_one_row_with_empty_source():
    rows = normalise_lineage(SERVERS_TREE)

    assert rows.relationship_count == 1
    assert rows.relationships == [
        {
            "relationship_id": "7",
            "relationship_type": "fdd",
            "effect_type": None,
            "process_id": None,
            "target_object_id": "9",
            "target_object_name": None,
            "target_column_id": "10",
            "target_column": "ID",
            "source_position": None,
            "source_object_id": None,
            "source_object_name": None,
            "source_column_id": None,
            "source_column": None,
            "source_clause_type": None,
        }
    ]


@pytest.mark.parametrize("data", [{}, {"sqlflow": {}}, {"mode": "summary", "summary": {"table": 3}}])
def test_empty_lineage_gives_no_rows(data):
    rows = normalise_lineage(data)

    assert (rows.objects, rows.columns, rows.relationships, rows.relationship_count) == ([], [], [], 0)


def test_qualify_drops_placeholders_in_any_case():
    assert qualify("DEFAULT", "default_server", "sales", "ORDERS") == "sales.ORDERS"
    assert qualify("DEFAULT", None, "") is None


def test_joined_warnings_removes_repeats_and_is_none_when_empty():
    assert joined_warnings(["a", "b"], ["b", "c"]) == "a\nb\nc"
    assert joined_warnings([], []) is None


def test_job_rows_from_vendor_summary_parse_local_times_and_changed_at():
    details = sample("job_displayUserJobsSummary.response.json")["data"]["jobDetails"]

    first, second = (job_row(job) for job in details)

    assert first["job_id"] == "939fdbbaf52b45139b86c0761d6036b0"
    assert first["db_vendor"] == "dbvoracle"
    assert first["file_names"] == ["test.sql"]
    assert first["create_time"] == datetime(2022, 10, 4, 10, 45, 4)
    assert first["changed_at"] == first["last_execute_time"] == datetime(2022, 10, 4, 10, 45, 5)
    # no lastExecuteTime: the create time is the change time
    assert second["last_execute_time"] is None
    assert second["changed_at"] == second["create_time"] == datetime(2022, 9, 18, 6, 46, 20)
    assert second["has_metadata"] is True
