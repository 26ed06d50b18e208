"""taskline's orchestration, in rooms; `definitions.py` merges the Dagster definitions of each.

Floors, each importing only those below it (tests/test_rooms.py checks):
1. settings, keys: environment variables and shared keys.
2. warehouse/: the engine, its locks and error sentences (no Dagster).
3. runs/: the writer's turn every writing step takes, the dead-run reaper, schedules that never stack runs.
4. ingest/, dbt/, alerts/: the loads and their checks; the dbt models; the alerts and the notifier.
5. definitions.py (the code location) and serve/ (`make serve`: no Dagster definitions).
"""
