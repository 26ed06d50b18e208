"""What the warehouse holds of Flower's tasks: their last-event times, read by uuid."""

from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

# stored times keep microseconds, Flower's floats a little more
TIME_TOLERANCE_S = 1e-3


def loaded_versions(
    pipeline: dlt.Pipeline, cluster: str, uuids: list[str], chunk: int = 10_000
) -> dict[str, tuple[float | None, str | None]]:
    """uuid → (last-event time in epoch seconds, state) of `cluster`'s given tasks in the warehouse (those it
    has)."""
    found: dict[str, tuple[float | None, str | None]] = {}
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("tasks")
            for start in range(0, len(uuids), chunk):
                listed = ", ".join(
                    "'" + uuid.replace("'", "''") + "'" for uuid in uuids[start : start + chunk]
                )
                sql = (
                    f'select uuid, extract(epoch from "timestamp"), state from {table} '
                    f"where cluster = %s and uuid in ({listed})"
                )
                found.update(
                    (uuid, (_as_float(time), state)) for uuid, time, state in client.execute_sql(sql, cluster)
                )
    except DatabaseUndefinedRelation:  # nothing loaded yet
        return {}
    return found


def loaded_times(pipeline: dlt.Pipeline, cluster: str, uuids: list[str]) -> dict[str, float | None]:
    """uuid → last-event time (epoch seconds) of `cluster`'s given tasks in the warehouse (those it has)."""
    return {uuid: time for uuid, (time, _) in loaded_versions(pipeline, cluster, uuids).items()}


def same_time(stored: float | None, held: float | None) -> bool:
    if stored is None or held is None:
        return stored is held
    return abs(stored - held) <= TIME_TOLERANCE_S


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)
