"""The Dagster code location: asset keys, groups, lineage edges, checks, jobs, schedules and sensors."""

import json

import dagster as dg
import pytest
import yaml

from orchestration.dbt.assets import dbt_steps
from orchestration.dbt.project import PARSED_FOR, dbt_project, parsed_for
from orchestration.keys import ALERTS_CHECK
from tests.fixtures.deployments import deployment
from tests.fixtures.holders import waiting_for_its_turn
from tests.fixtures.paths import ROOT

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
    "marts/task_failure_alerts",
    "marts/task_failure_alert_history",
}
COVERAGE_CHECK = dg.AssetCheckKey(dg.AssetKey(["marts", "task_coverage_hourly"]), "task_attempts_coverage")
FLOWER_TASK_CHECKS = {
    dg.AssetCheckKey(dg.AssetKey(["flower", "tasks"]), name)
    for name in ("every_task_in_flower_is_loaded", "recent_task_events")
}
defs = deployment("flower", "sqlflow")


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


def selected_by(definitions: dg.Definitions, job: str) -> set[str]:
    return {key.to_user_string() for key in definitions.resolve_job_def(job).asset_layer.selected_asset_keys}


def test_flower_is_captured_often_without_dbt_and_modelled_on_its_own_cadence():
    capture = defs.resolve_schedule_def("flower_capture_every_5_minutes")
    marts = defs.resolve_schedule_def("flower_marts_every_15_minutes")
    sqlflow = defs.resolve_schedule_def("sqlflow_hourly")
    assert (capture.job_name, marts.job_name, sqlflow.job_name) == (
        "flower_capture",
        "flower_marts",
        "sqlflow_load",
    )
    assert {capture.default_status, marts.default_status} == {dg.DefaultScheduleStatus.RUNNING}

    assert selected_by(defs, "flower_capture") == FLOWER_ASSETS  # no dbt model: a capture never waits for one
    modelled = selected_by(defs, "flower_marts")
    assert {"marts/fct_task_runs", "marts/task_failure_impact", "seeds/task_table_map"} <= modelled
    assert not modelled & (FLOWER_ASSETS | SQLFLOW_ASSETS)
    assert selected_by(defs, "flower_load") == FLOWER_ASSETS | modelled  # both, for one click in the UI


def test_the_capture_job_carries_the_flower_checks_and_the_marts_job_the_coverage_check():
    def checks_of(job: str) -> set[dg.AssetCheckKey]:
        return set(defs.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys)

    assert checks_of("flower_capture") >= FLOWER_TASK_CHECKS and COVERAGE_CHECK not in checks_of(
        "flower_capture"
    )
    assert COVERAGE_CHECK in checks_of("flower_marts") and not FLOWER_TASK_CHECKS & checks_of("flower_marts")


def test_a_pressure_sensor_starts_captures_and_runs_by_default():
    sensor = defs.resolve_sensor_def("flower_capture_on_pressure")
    assert sensor.job_name == "flower_capture"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds <= 10


def test_with_both_sources_each_job_builds_its_own_branch_and_the_joined_marts():
    # the other branch is the other job's: task_failure_impact reads it as empty until that job first ran
    flower_load, sqlflow_load = selected_by(defs, "flower_load"), selected_by(defs, "sqlflow_load")
    assert {"marts/task_failure_impact", "seeds/task_table_map"} <= flower_load & sqlflow_load
    assert "marts/fct_task_runs" in flower_load and "marts/fct_task_runs" not in sqlflow_load
    assert "marts/lineage_impact" in sqlflow_load and "marts/lineage_impact" not in flower_load
    assert not sqlflow_load & FLOWER_ASSETS and not flower_load & SQLFLOW_ASSETS


def test_a_deployment_with_flower_only_has_no_sqlflow_assets_job_or_schedule():
    flower_only = deployment("flower")
    graph = flower_only.resolve_asset_graph()

    assert keys_in_group(graph, "ingest") == FLOWER_ASSETS
    assert [job.name for job in flower_only.jobs] == [
        "flower_capture",
        "flower_marts",
        "flower_load",
        "dashboards_build",
    ]
    assert [schedule.name for schedule in flower_only.schedules] == [
        "flower_capture_every_5_minutes",
        "flower_marts_every_15_minutes",
        "dashboards_every_15_minutes",
    ]
    assert FLOWER_TASK_CHECKS | {COVERAGE_CHECK} <= set(graph.asset_check_keys)
    # no other job builds the lineage branch: this one does, so those marts exist (empty)
    assert "marts/lineage_impact" in selected_by(flower_only, "flower_load")
    assert "marts/lineage_impact" in selected_by(flower_only, "flower_marts")
    # the dashboards are built by their own job, never by a source's
    assert selected_by(flower_only, "dashboards_build") == {"dashboards/site"}
    for job in ("flower_capture", "flower_marts", "flower_load"):
        assert "dashboards/site" not in selected_by(flower_only, job), job


def test_a_deployment_with_sqlflow_only_has_no_flower_assets_job_schedule_or_checks():
    sqlflow_only = deployment("sqlflow")
    graph = sqlflow_only.resolve_asset_graph()

    assert keys_in_group(graph, "ingest") == SQLFLOW_ASSETS
    assert [job.name for job in sqlflow_only.jobs] == ["sqlflow_load", "dashboards_build"]
    assert [schedule.name for schedule in sqlflow_only.schedules] == [
        "sqlflow_hourly",
        "dashboards_every_15_minutes",
    ]
    assert sorted(sensor.name for sensor in sqlflow_only.sensors) == [
        "reap_dead_runs_sensor",
        "taskline_notifications",
    ]
    assert not (FLOWER_TASK_CHECKS | {COVERAGE_CHECK}) & set(graph.asset_check_keys)
    assert "marts/fct_task_runs" in selected_by(sqlflow_only, "sqlflow_load")


def test_dbt_builds_in_three_steps_so_one_source_holds_back_only_its_own_marts(asset_graph):
    step_of = {key.to_user_string(): step.node_def.name for step in dbt_steps() for key in step.keys}
    assert step_of["marts/fct_task_runs"] == step_of["marts/task_coverage_hourly"] == "flower_models"
    assert step_of["marts/lineage_impact"] == step_of["staging/stg_sqlflow__jobs"] == "lineage_models"
    assert step_of["marts/task_failure_impact"] == step_of["seeds/task_table_map"] == "joined_models"
    dbt_keys = (
        {key.to_user_string() for key in asset_graph.get_all_asset_keys()}
        - FLOWER_ASSETS
        - SQLFLOW_ASSETS
        - {"dashboards/site"}
    )
    assert set(step_of) == dbt_keys  # every model in exactly one step


def test_every_asset_and_every_check_says_what_it_is(asset_graph):
    for key in FLOWER_ASSETS | SQLFLOW_ASSETS:
        description = asset_graph.get(dg.AssetKey.from_user_string(key)).description
        assert description and ("GET /api/" in description or "POST sqlflow/" in description), key
    for check_key in asset_graph.asset_check_keys:
        assert asset_graph.get_check_spec(check_key).description, check_key
    unique = dg.AssetCheckKey(
        dg.AssetKey(["marts", "lineage_impact"]),
        "unique_combination_of_columns_lineage_impact_table_name__downstream_table",
    )
    assert asset_graph.get_check_spec(unique).description.startswith(
        "dbt test `unique_combination_of_columns`"
    )


def test_steps_run_in_one_process_and_hold_nothing_a_dead_run_could_keep(asset_graph):
    # a run killed mid-step never gives back a pool slot or a run-queue slot: writers use a file lock instead
    # (the in_process_executor, fixed: orchestration.definitions.fixed)
    assert defs.executor.executor_creation_fn is dg.in_process_executor.executor_creation_fn
    for key in FLOWER_ASSETS | SQLFLOW_ASSETS | MARTS:
        assert asset_graph.get(dg.AssetKey.from_user_string(key)).pools == set()
    instance_settings = yaml.safe_load((ROOT / "orchestration" / "serve" / "dagster.yaml").read_text())
    assert "concurrency" not in instance_settings
    assert "run_coordinator" not in instance_settings


def test_the_alerts_check_runs_with_every_build_of_the_marts_and_the_notifier_runs_by_default():
    def checks_of(job: str) -> set[dg.AssetCheckKey]:
        return set(defs.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys)

    assert ALERTS_CHECK in checks_of("flower_marts") & checks_of("flower_load") & checks_of("sqlflow_load")
    assert ALERTS_CHECK not in checks_of("flower_capture")
    sensor = defs.resolve_sensor_def("taskline_notifications")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30


def test_a_running_sensor_marks_dead_runs_failed():
    sensor = defs.resolve_sensor_def("reap_dead_runs_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds <= 120


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


@pytest.mark.integration  # runs dbt parse in two processes
def test_a_code_location_loading_while_another_parses_waits_for_the_manifest():
    """While one process re-parses the dbt project (two jobs started at once, the webserver beside the daemon),
    another loading the code location waits for its turn instead of reading a half-written manifest, then
    loads what the first one wrote."""
    PARSED_FOR.write_text("parsed for another warehouse")
    loader = waiting_for_its_turn(PARSED_FOR.with_name(".parse.lock"), "import orchestration.definitions")
    output = loader.communicate(timeout=300)[0]
    assert loader.returncode == 0, output[-4000:]
    assert PARSED_FOR.read_text() == parsed_for()
    assert json.loads(dbt_project.manifest_path.read_text())["nodes"]


def test_a_parse_is_shared_by_warehouses_of_one_name_and_redone_for_another_database(monkeypatch, tmp_path):
    """The manifest holds relation names: the database's name is part of what a parse was made for, the folder
    of a DuckDB file is not (every test's warehouse.duckdb, a moved data/ folder: no new parse)."""
    # what publishing the warehouse's settings for dbt writes into this process's environment, undone after
    monkeypatch.setenv("TASKLINE_WAREHOUSE", "duckdb")
    for name in (
        "DBT_POSTGRES_HOST",
        "DBT_POSTGRES_PORT",
        "DBT_POSTGRES_USER",
        "DBT_POSTGRES_DBNAME",
        "PGTZ",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DBT_ENV_SECRET_POSTGRES_PASSWORD", raising=False)

    def parsed_for_path(path: str) -> str:
        monkeypatch.setenv("DUCKDB_PATH", path)
        return parsed_for()

    assert parsed_for_path(str(tmp_path / "a" / "warehouse.duckdb")) == parsed_for_path(
        str(tmp_path / "warehouse.duckdb")
    )
    assert parsed_for_path(str(tmp_path / "shop.duckdb")) != parsed_for_path(
        str(tmp_path / "warehouse.duckdb")
    )
    monkeypatch.setenv("TASKLINE_WAREHOUSE", "postgres")
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", "postgresql://taskline:pw@db.internal:5432/estate"
    )
    on_postgres = parsed_for()
    assert on_postgres.startswith("PostgreSQL database estate")
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", "postgresql://taskline:pw@db.internal:5432/other"
    )
    assert parsed_for() != on_postgres
