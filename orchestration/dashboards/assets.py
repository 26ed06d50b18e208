"""The `dashboards/site` asset: the marts exported during a reader's turn (DuckDB allows one process at a time),
then the Evidence site built from the export outside it; its own job and schedule, after the marts' one."""

from datetime import UTC, datetime

import dagster as dg

from orchestration import settings
from orchestration.alerts.notifier import SELF_CHECKS
from orchestration.dashboards.export import EXPORTED, Health, export
from orchestration.dashboards.site import DashboardsError, build_site
from orchestration.keys import DASHBOARDS_GROUP, DASHBOARDS_SITE, FLOWER_TASKS
from orchestration.runs.under_way import schedule_one_at_a_time
from orchestration.runs.writer import reading_in_turn
from orchestration.warehouse.engine import warehouse_engine

# the marts (and seed) the export reads
READS = [
    dg.AssetKey(["marts", name])
    for name in (
        "fct_task_runs", "task_failure_daily", "task_failure_signatures", "task_failure_alerts",
        "task_failure_alert_history", "operations_alerts", "operations_alert_history", "lineage_table_edges",
        "lineage_impact", "queue_backlog_hourly", "dim_workers",
    )
] + [dg.AssetKey(["seeds", "task_table_map"])]  # fmt: skip


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


def taskline_health(instance: dg.DagsterInstance) -> Health:
    """taskline's own checks at their latest evaluation (per cluster for an estate's), and each cluster's latest
    capture."""
    checks = []
    for key in SELF_CHECKS:
        latest: dict[str | None, tuple] = {}
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
        for record in sorted(records, key=lambda record: record.id):
            evaluation = record.event and record.event.dagster_event.event_specific_data
            if isinstance(evaluation, dg.AssetCheckEvaluation):
                latest[evaluation.partition] = (
                    f"{key.asset_key.to_user_string()}:{key.name}",
                    evaluation.partition or "",
                    evaluation.passed,
                    None if evaluation.passed else evaluation.severity.value.lower(),
                    evaluation.description or "",
                    utc(record.event.timestamp),
                )
        checks += [latest[partition] for partition in sorted(latest, key=lambda partition: partition or "")]
    return Health(checks, latest_captures(instance))


def latest_captures(instance: dg.DagsterInstance) -> list[tuple]:
    """Each cluster's latest successful capture (a partition of flower/tasks; a single Flower has none)."""
    partitions = sorted(instance.get_materialized_partitions(FLOWER_TASKS)) or [None]
    captures = []
    for partition in partitions:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(FLOWER_TASKS, asset_partitions=[partition] if partition else None), limit=1
        ).records
        if records:
            captures.append((partition or "default", utc(records[0].timestamp)))
    return captures


@dg.asset(
    key=DASHBOARDS_SITE,
    deps=READS,
    group_name=DASHBOARDS_GROUP,
    config_schema={},  # a launch sets nothing here (definitions.fixed)
    description=(
        "The dashboards at /dashboards/ (Evidence, dashboards/): the estate, a page per task and per table. The "
        "marts are exported during a reader's turn, then the site is built from the export and put in place "
        "whole; a failed build fails here with Evidence's own error and leaves the last good site served."
    ),
)
def dashboards_site(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    directory = settings.dashboards_dir()
    directory.mkdir(parents=True, exist_ok=True)
    export_file = directory / "taskline.duckdb"
    health = taskline_health(context.instance)
    with reading_in_turn(context.op_execution_context):
        rows = export(export_file, health, warehouse_engine())
    context.log.info(f"Exported {sum(rows.values())} rows for the dashboards: {rows}")
    try:
        site = build_site(export_file, directory)
    except DashboardsError as error:
        raise dg.Failure(str(error)) from None
    return dg.MaterializeResult(
        metadata={
            "site": dg.MetadataValue.path(str(site.path)),
            "build_seconds": dg.MetadataValue.float(round(site.seconds, 1)),
            "site_bytes": dg.MetadataValue.int(site.size_bytes),
            "prerendered_pages": dg.MetadataValue.int(site.prerendered_pages),
            # a build bundles the app when the project changed (or on a first build): it takes longer
            "bundled_the_app": dg.MetadataValue.bool(site.bundled),
            **{f"rows_{table.name}": dg.MetadataValue.int(rows[table.name]) for table in EXPORTED},
        }
    )


dashboards_job = dg.define_asset_job(
    "dashboards_build",
    selection=dg.AssetSelection.assets(DASHBOARDS_SITE),
    description="Build the dashboards (/dashboards/) from the marts as they are.",
)


def dashboards_schedule() -> dg.ScheduleDefinition:
    """The build after each marts build, on the cron the deployment sets when its code location loads."""
    return schedule_one_at_a_time(
        "dashboards_every_15_minutes", dashboards_job, settings.value(settings.DASHBOARDS_SCHEDULE)
    )
