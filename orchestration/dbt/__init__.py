"""dbt in Dagster: staging → intermediate → marts, downstream of the dlt assets; dbt tests become asset checks.

project (the dbt project, its CLI resource and a current manifest), translator (groups and check
descriptions), assets (the three build steps), metadata (row counts and column schemas), docs (the dbt docs
each marts build refreshes). Importing any of them runs no dbt: dbt_steps() parses when first called.
"""
