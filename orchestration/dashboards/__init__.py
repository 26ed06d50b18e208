"""Dashboards: the `dashboards/site` asset (the marts exported and the Evidence project in dashboards/ built
into a static site `make serve` serves at /dashboards/), its job and its schedule (may import warehouse/, runs/,
alerts/ and keys; not serve/).

export (the marts read during a reader's turn, into one DuckDB file the pages query), site (the Evidence build
in a working copy, the site put in place whole; no Dagster), assets (the asset, its job and schedule).
"""

import dagster as dg

from orchestration.dashboards.assets import dashboards_job, dashboards_schedule, dashboards_site


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[dashboards_site], jobs=[dashboards_job], schedules=[dashboards_schedule()])
