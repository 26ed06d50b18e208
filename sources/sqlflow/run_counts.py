"""What one run of a lineage resource did with its files or jobs, kept in its resource state (`last_run`) so
the orchestration can show it: the per-file failures otherwise reach only the logs and the checks."""

from typing import Any

import dlt

# sent: asked of SQLFlow; loaded: its lineage stored; failed: recorded in the failures table (not sent when
# too large); backed_off: failed before, unchanged, waiting for its back-off; unchanged: loaded before as is
RUN_COUNTS = ("sent", "loaded", "failed", "backed_off", "unchanged")


def fresh_run_counts(state: dict[str, Any]) -> dict[str, int]:
    """This run's counts, all zero, in place of the previous run's."""
    state["last_run"] = counts = dict.fromkeys(RUN_COUNTS, 0)
    return counts


def last_run_counts(pipeline: dlt.Pipeline, resource: str) -> dict[str, int] | None:
    """The counts of `resource` in the latest committed load, None before any."""
    resources = pipeline.state.get("sources", {}).get("sqlflow", {}).get("resources", {})
    return resources.get(resource, {}).get("last_run")
