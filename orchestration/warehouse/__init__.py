"""Warehouse: DuckDB or PostgreSQL, chosen from the environment; credentials, dbt's environment, dlt
pipelines, queries, the writers' locks and the sentences that name warehouse trouble. No Dagster, no
definitions: every other room may import it, it imports none of them.

errors (the errors and their sentences), postgres (PostgreSQL's credentials and connection), engine (which
warehouse, and dbt's environment for it), pipelines (dlt pipelines, their working dirs, read-only queries),
lock (one writer at a time on DuckDB, turns on PostgreSQL).
"""
