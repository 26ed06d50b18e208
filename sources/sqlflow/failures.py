"""Lineage SQLFlow could not give for one SQL file or job: recorded, retried later with back-off, never
holding back the others.

The open failures live in the resource state (what the next run must know: when to try again, and for
which version of the file or job) and in a table per resource (`<summary>_failures`, merged on the key), one
row per file or job that failed, kept with `resolved_at` once it succeeds, for the marts and a check.
"""

from datetime import datetime, timedelta
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema

from sources.sqlflow.errors import SQLFlowError
from sources.sqlflow.tables import key_column, typed, utc_times

# a file or job that failed is tried again at the next run after an hour, then 2, 4, ... up to a day, and at
# once when it changes (a cloud quota is spent on every call)
FIRST_RETRY = timedelta(hours=1)
LONGEST_RETRY = timedelta(hours=24)


def failure_columns(key: str) -> dict[str, TColumnSchema]:
    return {
        **key_column(key),
        **typed("text", "version", "code", "message"),
        **typed("bigint", "attempts"),
        **utc_times("first_failed_at", "last_failed_at", "next_attempt_at", "resolved_at"),
    }


def retry_after(attempts: int) -> timedelta:
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)


class FailureLog:
    """The open failures of one resource (`state["failures"]`: key → its last failure) and their table."""

    def __init__(self, state: dict[str, Any], table: str, key: str, now: datetime):
        self.open: dict[str, dict[str, Any]] = state.setdefault("failures", {})
        self.key, self.now = key, now
        self.hints = dlt.mark.make_hints(
            table_name=table, write_disposition="merge", primary_key=key, columns=failure_columns(key)
        )

    def due(self, key_value: str, version: str) -> bool:
        """Whether to ask SQLFlow now: never failed, changed since it failed, or its back-off is over."""
        failure = self.open.get(key_value)
        return (
            failure is None
            or failure["version"] != version
            or datetime.fromisoformat(failure["next_attempt_at"]) <= self.now
        )

    def failed(self, key_value: str, version: str, error: SQLFlowError) -> Any:
        """Records the failure (attempts count per version) and returns its row for the table."""
        previous = self.open.get(key_value)
        attempts = previous["attempts"] + 1 if previous and previous["version"] == version else 1
        failure = {
            "version": version,
            "code": error.code,
            "message": str(error),
            "attempts": attempts,
            "first_failed_at": previous["first_failed_at"] if previous else self.now.isoformat(),
            "last_failed_at": self.now.isoformat(),
            "next_attempt_at": (self.now + retry_after(attempts)).isoformat(),
        }
        self.open[key_value] = failure
        return self.row(key_value, failure, resolved_at=None)

    def resolve(self, key_value: str) -> Any | None:
        """The failure's row marked resolved (the file or job loaded, or is gone), when `key_value` had one
        open; None otherwise."""
        failure = self.open.pop(key_value, None)
        return None if failure is None else self.row(key_value, failure, resolved_at=self.now)

    def row(self, key_value: str, failure: dict[str, Any], resolved_at: datetime | None) -> Any:
        row = {
            self.key: key_value,
            **{name: failure[name] for name in ("version", "code", "message", "attempts")},
            "first_failed_at": datetime.fromisoformat(failure["first_failed_at"]),
            "last_failed_at": datetime.fromisoformat(failure["last_failed_at"]),
            "next_attempt_at": None if resolved_at else datetime.fromisoformat(failure["next_attempt_at"]),
            "resolved_at": resolved_at,
        }
        return dlt.mark.with_hints(row, self.hints, create_table_variant=True)
