"""The Dagster code location: asset keys, groups, lineage edges, checks, jobs and schedules."""

import dagster as dg
import pytest

from orchestration.definitions import defs

FLOWER_ASSETS = {"flower/tasks", "flower/workers", "flower/task_types", "flower/queues_length"}
SQLFLOW_ASSETS = {"sqlflow/jobs", "sqlflow/job_lineage", "sqlflow/query_lineage"}
MARTS = {
    "marts/fct_task_runs",
    "marts/task_failure_daily",
    "marts/task_failure_signatures",
    "marts/lineage_table_edges",
    "marts/lineage_column_edges",
    "marts/lineage_impact",
    "marts/task_failure_impact",
    "marts/task_coverage_hourly",
}
COVERAGE_CHECK = dg.AssetCheckKey(dg.AssetKey(["marts", "task_coverage_hourly"]), "task_attempts_coverage")


@pytest.fixture(scope="module")
def asset_graph():
    return defs.resolve_asset_graph()


def keys_in_group(asset_graph, group: str) -> set[str]:
    return {
        key.to_user_string()
        for key in asset_graph.get_all_asset_keys()
        if asset_graph.get(key).group_name == group
    }


def test_dlt_assets_are_keyed_by_source_and_resource_in_group_ingest(asset_graph):
    # task_info is opt-in (with_task_info = false in .dlt/config.toml), so it is not an asset by default
    assert keys_in_group(asset_graph, "ingest") == FLOWER_ASSETS | SQLFLOW_ASSETS


def test_dlt_assets_have_no_phantom_upstream(asset_graph):
    for key in FLOWER_ASSETS | SQLFLOW_ASSETS:
        assert asset_graph.get(dg.AssetKey.from_user_string(key)).parent_keys == set()


def test_dbt_graph_reads_ingest_then_staging_then_marts(asset_graph):
    def parents(key: str) -> set[str]:
        return {
            parent.to_user_string()
            for parent in asset_graph.get(dg.AssetKey.from_user_string(key)).parent_keys
        }

    assert parents("staging/stg_flower__tasks") == {"flower/tasks"}
    assert parents("staging/stg_sqlflow__lineage_relationships") == {
        "sqlflow/job_lineage",
        "sqlflow/query_lineage",
    }
    assert keys_in_group(asset_graph, "marts") >= MARTS
    assert "seeds/task_table_map" in parents("marts/task_failure_impact")


def test_dbt_tests_are_asset_checks(asset_graph):
    checked = {key.asset_key.to_user_string() for key in asset_graph.asset_check_keys}
    assert {"staging/stg_flower__tasks", "marts/fct_task_runs", "marts/lineage_impact"} <= checked


def test_schedules_load_each_source_and_refresh_downstream():
    flower = defs.resolve_schedule_def("flower_every_15_minutes")
    sqlflow = defs.resolve_schedule_def("sqlflow_hourly")
    assert (flower.cron_schedule, sqlflow.cron_schedule) == ("*/15 * * * *", "0 * * * *")
    assert flower.default_status == dg.DefaultScheduleStatus.RUNNING

    flower_job = defs.resolve_job_def("flower_load")
    selected = {key.to_user_string() for key in flower_job.asset_layer.selected_asset_keys}
    assert (
        FLOWER_ASSETS | {"marts/fct_task_runs", "marts/task_failure_impact", "seeds/task_table_map"}
        <= selected
    )
    assert not selected & SQLFLOW_ASSETS


def test_steps_run_in_one_process_and_writers_share_one_pool(asset_graph):
    assert defs.executor == dg.in_process_executor
    for key in FLOWER_ASSETS | SQLFLOW_ASSETS | MARTS:
        assert asset_graph.get(dg.AssetKey.from_user_string(key)).pools == {"duckdb_warehouse"}


def test_coverage_check_runs_with_every_flower_load_and_the_main_job(asset_graph):
    def checks_of(job: dg.JobDefinition) -> set[dg.AssetCheckKey]:
        return set(job.asset_layer.asset_graph.asset_check_keys)

    assert COVERAGE_CHECK in checks_of(defs.resolve_job_def("flower_load"))
    assert COVERAGE_CHECK not in checks_of(defs.resolve_job_def("sqlflow_load"))
    everything = dg.AssetSelection.all().resolve(asset_graph)
    main_job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=everything)
    assert COVERAGE_CHECK in checks_of(main_job)
    spec = asset_graph.get_check_spec(COVERAGE_CHECK)
    assert "snapshot BEFORE it walks the tasks" in spec.description
