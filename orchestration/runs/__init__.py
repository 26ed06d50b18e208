"""Runs: what every warehouse-writing step runs inside (the writer's turn, dead runs reaped first, trouble as
one sentence), what the read-only asset checks run inside (a reader's turn), the sensor that reaps dead
runs for the daemon, and schedules that never stack a run behind their own (may import warehouse/ only).

writer (`writing_the_warehouse`, `reading_in_turn`), reaper (dead runs marked failed, and its sensor),
under_way (runs of a job under way; `schedule_one_at_a_time`).
"""

import dagster as dg

from orchestration.runs.reaper import reap_dead_runs_sensor


def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[reap_dead_runs_sensor])
