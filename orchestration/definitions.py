"""The one Dagster code location of taskline."""

import dagster as dg
from dagster_dlt import DagsterDltResource

from orchestration.checks import task_attempts_coverage
from orchestration.ingest import flower_assets, sqlflow_assets
from orchestration.schedules import flower_job, flower_schedule, sqlflow_job, sqlflow_schedule
from orchestration.transform import dbt_cli, taskline_dbt_assets
from sources.warehouse import publish_warehouse_path

publish_warehouse_path()

defs = dg.Definitions(
    assets=[flower_assets, sqlflow_assets, taskline_dbt_assets],
    asset_checks=[task_attempts_coverage],
    jobs=[flower_job, sqlflow_job],
    schedules=[flower_schedule, sqlflow_schedule],
    resources={"dlt": DagsterDltResource(), "dbt": dbt_cli},
    # one process runs the steps in order: no re-import per step, and one DuckDB writer at a time
    executor=dg.in_process_executor,
)
