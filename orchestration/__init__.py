"""Dagster wiring of taskline: thin, everything else lives in sources/ and dbt_project/."""
