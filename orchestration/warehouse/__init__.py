"""Warehouse: DuckDB or PostgreSQL, chosen from the environment; credentials, dbt's environment, dlt
pipelines, queries, the writers' locks and the sentences that name warehouse trouble. No Dagster, no
definitions: every other room may import it, it imports none of them.

engine (the engine, its settings, pipelines and queries), lock (one writer at a time on DuckDB, turns on
PostgreSQL).
"""
