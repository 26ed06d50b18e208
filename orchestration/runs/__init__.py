"""Runs: what every warehouse-writing step runs inside (the writer's turn, dead runs reaped first, trouble as
one sentence), what the read-only asset checks run inside (a reader's turn), and the sensor that reaps dead
runs for the daemon (may import warehouse/ only).

writer (`writing_the_warehouse`, `reading_in_turn`), reaper (dead runs marked failed, and its sensor).
"""

import dagster as dg

from orchestration.runs.reaper import reap_dead_runs_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[reap_dead_runs_sensor])
