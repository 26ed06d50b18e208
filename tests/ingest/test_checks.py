"""The coverage check's verdict from the latest snapshot intervals (rows as the warehouse gives them)."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.ingest.flower_checks import coverage_result

END = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


def figures(result: dg.AssetCheckResult) -> dict:
    return {key: value.value for key, value in result.metadata.items()}


def test_lost_attempts_warn_with_the_total_and_each_worker():
    result = coverage_result([("w1", END, 30, 20, 10), ("w2", END, 5, 5, 0)])
    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert figures(result) == {
        "workers": 2,
        "attempts_processed": 35,
        "attempts_loaded": 25,
        "attempts_lost": 10,
        "attempts_lost_per_worker": {"w1": 10, "w2": 0},
        "interval_end": END.timestamp(),
        "coverage": 25 / 35,
    }
    assert result.description.startswith("10 of 35 task attempts")


def test_a_retry_that_moved_to_another_worker_is_not_lost():
    """w1 ran the first attempt, w2 the retry: the task and both attempts count for w2."""
    result = coverage_result([("w1", END, 1, 0, 1), ("w2", END, 1, 2, 0)])
    assert result.passed
    assert figures(result)["attempts_lost"] == 0
    assert figures(result)["attempts_lost_per_worker"] == {"w1": 1, "w2": 0}
    assert figures(result)["coverage"] == 1.0


def test_no_interval_yet_passes_with_nothing_compared():
    result = coverage_result([])
    assert result.passed
    assert figures(result) == {
        "workers": 0,
        "attempts_processed": 0,
        "attempts_loaded": 0,
        "attempts_lost": 0,
        "attempts_lost_per_worker": {},
    }
