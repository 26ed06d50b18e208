"""`/health` for load balancers and systemd: 200 while the Dagster webserver answers and every daemon
heartbeats, else 503; the JSON body says which, and when each source's load last succeeded.

    python -m orchestration.serve.health --port PORT --webserver URL

Started by `make serve` on a loopback port; nginx serves it as /health without a login (it holds no secret:
states and times only).
"""

import argparse
import json
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import requests
from dagster._daemon.controller import DEFAULT_HEARTBEAT_INTERVAL_SECONDS, get_daemon_statuses

from orchestration import settings
from orchestration.keys import FLOWER_TASKS

SOURCES = ("flower", "sqlflow")
# seconds past Dagster's heartbeat interval a daemon may stay silent before it counts as stopped: Dagster's
# own tolerance is longer than a full Flower lasts under a steady stream of tasks, before it evicts unread ones
HEARTBEAT_TOLERANCE_S = settings.heartbeat_tolerance_s()


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def webserver_up(url: str) -> bool:
    try:
        return requests.get(f"{url}/server_info", timeout=5).ok
    except requests.RequestException:
        return False


def daemon_health(instance: dg.DagsterInstance) -> dict:
    """Every daemon this instance needs, healthy when its last heartbeat is recent (Dagster's own rule)."""
    statuses = get_daemon_statuses(
        instance,
        instance.get_required_daemon_types(),
        ignore_errors=True,
        heartbeat_interval_seconds=DEFAULT_HEARTBEAT_INTERVAL_SECONDS,
        heartbeat_tolerance_seconds=HEARTBEAT_TOLERANCE_S,
    )
    heartbeats = [status.last_heartbeat.timestamp for status in statuses.values() if status.last_heartbeat]
    return {
        "healthy": bool(statuses) and all(status.healthy for status in statuses.values()),
        "last_heartbeat": iso(max(heartbeats, default=None)),
        "not_heartbeating": sorted(name for name, status in statuses.items() if not status.healthy),
    }


def last_successful_loads(instance: dg.DagsterInstance) -> dict[str, str | None]:
    """Per source, when an asset it loads last materialised (a materialisation is a load that succeeded)."""
    loads = {}
    for source in SOURCES:
        keys = instance.get_asset_keys(prefix=[source])
        events = instance.get_latest_materialization_events(keys).values() if keys else []
        loads[source] = iso(max((event.timestamp for event in events if event), default=None))
    return loads


def last_captures_per_cluster(instance: dg.DagsterInstance) -> dict[str, str | None]:
    """Per Flower cluster of an estate (a partition of flower/tasks), when its capture last succeeded."""
    captures = {}
    for cluster in sorted(instance.get_materialized_partitions(FLOWER_TASKS)):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(FLOWER_TASKS, asset_partitions=[cluster]), limit=1
        ).records
        captures[cluster] = iso(records[0].timestamp if records else None)
    return captures


def health_report(instance: dg.DagsterInstance, webserver_url: str) -> dict:
    up, daemon = webserver_up(webserver_url), daemon_health(instance)
    report = {
        "healthy": up and daemon["healthy"],
        "webserver": {"up": up},
        "daemon": daemon,
        "last_successful_load": last_successful_loads(instance),
    }
    if clusters := last_captures_per_cluster(instance):
        report["last_successful_capture_per_cluster"] = clusters
    return report


def handler(instance: dg.DagsterInstance, webserver_url: str) -> type[BaseHTTPRequestHandler]:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/health":
                self.send_error(404)
                return
            report = health_report(instance, webserver_url)
            body = json.dumps(report).encode()
            self.send_response(200 if report["healthy"] else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # a load balancer asks every few seconds
            pass

    return Health


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webserver", required=True, help="the Dagster webserver's loopback URL")
    args = parser.parse_args()
    with dg.DagsterInstance.get() as instance:  # one request at a time: a probe is quick, sqlite likes it
        server = HTTPServer(("127.0.0.1", args.port), handler(instance, args.webserver))
        server.serve_forever()


if __name__ == "__main__":
    main()
