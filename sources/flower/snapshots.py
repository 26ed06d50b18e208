"""Snapshots of what Flower knows right now: workers (with their load), task types, queue lengths."""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sources.flower.client import FlowerApi
from sources.flower.rows import from_epoch, typed_columns

logger = logging.getLogger("sources.flower")

WORKER_COLUMNS = typed_columns(
    snapshot_at="timestamp",
    worker="text",
    is_online="bool",
    heartbeat_at="timestamp",
    pid="bigint",
    uptime_s="bigint",
    pool_implementation="text",
    pool_max_concurrency="bigint",
    pool_processes="bigint",
    prefetch_count="bigint",
    processed_total="bigint",
    processed_by_task="json",
    queues="text",
    registered_tasks="text",
    active_tasks="bigint",
    reserved_tasks="bigint",
    active_task_ids="text",
    reserved_task_ids="text",
    scheduled_tasks="bigint",
    cpu_user_s="double",
    cpu_system_s="double",
    max_rss_kb="bigint",
    broker_transport="text",
)
TASK_TYPE_COLUMNS = typed_columns(name="text", last_seen_at="timestamp")
QUEUE_LENGTH_COLUMNS = typed_columns(snapshot_at="timestamp", queue="text", messages="bigint")


def _now() -> datetime:
    return datetime.now(UTC)


def _joined(names: list[str] | None) -> str | None:
    return ",".join(sorted(names)) if names is not None else None


def _count(items: list[Any] | None) -> int | None:
    return len(items) if items is not None else None


def _task_ids(items: list[Any] | None) -> str | None:
    """The ids of a worker's task list (what it runs now, what it holds): how a stuck task is told from one
    whose end Flower missed."""
    return (
        _joined([item["id"] for item in items if isinstance(item, dict) and item.get("id")])
        if items is not None
        else None
    )


def worker_row(
    name: str, info: dict[str, Any], is_online: bool | None, snapshot_at: datetime
) -> dict[str, Any]:
    """One worker of one snapshot, flattened. `conf` is left out: it may hold broker settings."""
    stats = info.get("stats") or {}
    pool = stats.get("pool") or {}
    rusage = stats.get("rusage") or {}
    processed = stats.get("total")
    queues = info.get("active_queues")
    return {
        "snapshot_at": snapshot_at,
        "worker": name,
        "is_online": is_online,
        "heartbeat_at": from_epoch(info.get("timestamp")),
        "pid": stats.get("pid"),
        "uptime_s": stats.get("uptime"),
        "pool_implementation": pool.get("implementation"),
        "pool_max_concurrency": pool.get("max-concurrency"),
        "pool_processes": _count(pool.get("processes")),
        "prefetch_count": stats.get("prefetch_count"),
        "processed_total": sum(processed.values()) if processed is not None else None,
        "processed_by_task": processed,
        "queues": _joined([queue["name"] for queue in queues] if queues is not None else None),
        "registered_tasks": _joined(info.get("registered")),
        "active_tasks": _count(info.get("active")),
        "reserved_tasks": _count(info.get("reserved")),
        "active_task_ids": _task_ids(info.get("active")),
        "reserved_task_ids": _task_ids(info.get("reserved")),
        "scheduled_tasks": _count(info.get("scheduled")),
        "cpu_user_s": rusage.get("utime"),
        "cpu_system_s": rusage.get("stime"),
        "max_rss_kb": rusage.get("maxrss"),
        "broker_transport": (stats.get("broker") or {}).get("transport"),
    }


def worker_snapshot(api: FlowerApi) -> Iterator[list[dict[str, Any]]]:
    """Every worker Flower knows, now: inspect replies (refreshed) joined with online status from events.

    Flower inspects a worker's task lists (active, reserved, scheduled: its load) only when asked for that
    one worker, so each online worker costs one more call.
    """
    snapshot_at = _now()
    workers = api.get_object("api/workers", {"refresh": 1})
    online = api.get_object("api/workers", {"status": 1})
    for name in sorted(name for name, alive in online.items() if alive):
        one = api.get_object("api/workers", {"workername": name, "refresh": 1}, absent_ok=True) or {}
        workers[name] = {**workers.get(name, {}), **one.get(name, {})}
    yield [
        worker_row(name, workers.get(name) or {}, online.get(name), snapshot_at)
        for name in sorted(set(workers) | set(online))
    ]


def seen_task_types(api: FlowerApi) -> Iterator[list[dict[str, Any]]]:
    seen_at = _now()
    body = api.get_object("api/task/types")
    yield [{"name": name, "last_seen_at": seen_at} for name in body.get("task-types") or []]


def queue_lengths(api: FlowerApi) -> Iterator[list[dict[str, Any]]]:
    """Messages waiting per active queue: a gauge, kept as timestamped snapshots to build a history."""
    snapshot_at = _now()
    body = api.get_object("api/queues/length", absent_ok=True)
    if body is None:
        logger.warning(
            "Flower at %s has no queue lengths (HTTP 404 for /api/queues/length: its broker transport "
            "does not report them); queues_length gets no rows",
            api.base_url,
        )
        return
    queues = body.get("active_queues") or []
    yield [
        {"snapshot_at": snapshot_at, "queue": queue["name"], "messages": queue["messages"]}
        for queue in queues
    ]
