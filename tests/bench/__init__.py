"""Benchmarks: run as modules (`python -m tests.bench.bench_dbt`), not collected by pytest."""
