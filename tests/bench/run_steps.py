"""What a Dagster instance recorded of its latest run: the run's own duration and each step's."""

from pathlib import Path

import dagster as dg


def steps_of_latest_run(home: Path) -> tuple[float, list[tuple[str, float]]]:
    """The latest run's own duration and each step's, from the Dagster instance."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs(limit=1)
        started: dict[str, float] = {}
        steps = []
        records = instance.all_logs(run.run_id)
        for record in records:
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type_value == "STEP_START":
                started[event.step_key] = record.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                steps.append((event.step_key, record.timestamp - started[event.step_key]))
        return records[-1].timestamp - records[0].timestamp, steps
