"""The asset, check and metadata keys more than one room names: the capture writes them, checks and alerts
read them. Light: only Dagster's key types."""

import dagster as dg

FLOWER_TASKS = dg.AssetKey(["flower", "tasks"])
# the materialisation metadata where a capture records Flower's count of tasks seen when its walk began
TASKS_SEEN_METADATA = "flower_tasks_seen_at_walk"
COVERAGE_MART = dg.AssetKey(["marts", "task_coverage_hourly"])
ALERTS_MART = dg.AssetKey(["marts", "task_failure_alerts"])
OPERATIONS_MART = dg.AssetKey(["marts", "operations_alerts"])

COMPLETENESS_CHECK = dg.AssetCheckKey(FLOWER_TASKS, "every_task_in_flower_is_loaded")
COVERAGE_CHECK = dg.AssetCheckKey(COVERAGE_MART, "task_attempts_coverage")
FRESHNESS_CHECK = dg.AssetCheckKey(FLOWER_TASKS, "recent_task_events")
ALERTS_CHECK = dg.AssetCheckKey(ALERTS_MART, "task_failure_alerts_open")
OPERATIONS_CHECK = dg.AssetCheckKey(OPERATIONS_MART, "operations_alerts_open")

# the dashboards' site (orchestration/dashboards/): built by its own job, never by a source's jobs
DASHBOARDS_GROUP = "dashboards"
DASHBOARDS_SITE = dg.AssetKey(["dashboards", "site"])
# the dashboards' page that renders any of their pages in the browser (dashboards/svelte.config.js writes it):
# the servers answer with it a path under /dashboards/ that is no file
DASHBOARDS_FALLBACK_PAGE = "200.html"
