"""dbt in Dagster: staging → intermediate → marts, downstream of the dlt assets; dbt tests become asset checks.

project (the dbt project, its CLI resource and a current manifest), translator (groups and check
descriptions), assets (the three build steps), metadata (row counts and column schemas), docs (the dbt docs
each marts build refreshes). Importing any of them runs no dbt: dbt_steps() parses when first called.
May import warehouse/, runs/ and settings; not ingest/, alerts/ or serve/.
"""

import dagster as dg

from orchestration.dbt.assets import dbt_steps


def defs() -> dg.Definitions:
    """Every dbt model (a source left out reads as empty in the marts) and its tests as asset checks."""
    return dg.Definitions(assets=dbt_steps())
