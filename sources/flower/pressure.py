"""How close Flower is to evicting tasks nobody has read: its new tasks counted from Prometheus /metrics.

Flower holds at most `--max_tasks` tasks and evicts the least recently touched one for every new task past
that. A task the last capture read can go; one it has not read is lost. So what puts tasks at risk is the
number of new tasks Flower has seen since the last capture began, against its capacity. /metrics answers
that at once from its event counters, where one /api/tasks request sorts every task Flower holds (a cost
that grows with what it holds; `make bench`).
"""

import logging
import re
from collections import defaultdict

from sources.flower.client import FlowerApi, FlowerError

logger = logging.getLogger("sources.flower")

# a task enters Flower with the first of these events it sees (task-sent only when clients send it)
FIRST_EVENTS = ("task-sent", "task-received")
EVENTS_LINE = re.compile(r"^flower_events_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def tasks_seen(metrics: str) -> int:
    """Tasks Flower has seen since it started, from the text of its /metrics: per task name the larger of its
    task-sent and task-received counts (a task sends either or both; a retry is received again and counts
    again, which only brings a capture forward)."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(FIRST_EVENTS, 0.0))
    for line in metrics.splitlines():
        match = EVENTS_LINE.match(line)
        if not match:
            continue
        labels = dict(LABEL.findall(match["labels"]))
        if labels.get("type") in FIRST_EVENTS:
            counts[labels.get("task", "")][labels["type"]] += float(match["value"])
    return int(sum(max(by_type.values()) for by_type in counts.values()))


def read_tasks_seen(api: FlowerApi) -> int | None:
    """Flower's count of tasks seen, or None when /metrics cannot be read (a proxy may not pass it on)."""
    try:
        return tasks_seen(api.get_text("metrics"))
    except FlowerError as error:
        logger.warning("Flower's /metrics could not be read, so its new tasks are not counted: %s", error)
        return None


def new_since(seen_now: int, seen_then: int | None) -> int:
    """New tasks since a reading of the counter; a counter below that reading means Flower restarted."""
    if seen_then is None or seen_now < seen_then:
        return seen_now
    return seen_now - seen_then
