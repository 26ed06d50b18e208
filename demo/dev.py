"""`make dev`: the local stack (Flower + SQLFlow stand-in) with a workload, and `make serve` (Dagster UI + daemon) on it."""

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from demo.sqlflow_standin import DEMO_USERS, SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import run_workload
from orchestration import settings
from orchestration.serve.server import ServeError, dagster_home, ensure_instance_settings, serve
from orchestration.settings import DEMO_SHOP_SETTING

ROOT = Path(__file__).resolve().parent.parent
DEMO_SQL = ["demo/sql/*.sql"]


def demo_dagster_home() -> Path:
    """The persistent DAGSTER_HOME of the demo, with the instance settings taskline needs."""
    home = dagster_home(dict(os.environ))
    ensure_instance_settings(home)
    return home


def demo_source_env(flower: FlowerStack, sqlflow: SQLFlowStandIn) -> dict[str, str]:
    """The env vars that point taskline at a local Flower stack and the SQLFlow stand-in (its first user)."""
    user_id, secret_key = next(iter(DEMO_USERS.items()))
    return {
        **flower.source_env(),
        "SOURCES__SQLFLOW__BASE_URL": sqlflow.base_url,
        "SOURCES__SQLFLOW__USER_ID": user_id,
        "SOURCES__SQLFLOW__SECRET_KEY": secret_key,
        "SOURCES__SQLFLOW__SQL_PATHS": json.dumps(DEMO_SQL),
        DEMO_SHOP_SETTING: "true",  # the demo shop's task-to-table map, not the product's empty one
    }


@contextmanager
def local_stack() -> Iterator[tuple[FlowerStack, dict[str, str]]]:
    """Flower (Redis + worker + Flower) and the SQLFlow stand-in, with the env vars that point taskline at them."""
    with FlowerStack(ROOT / ".demo" / "flower") as flower, SQLFlowStandIn() as sqlflow:
        yield flower, demo_source_env(flower, sqlflow)


def main() -> None:
    with local_stack() as (flower, env):
        run_workload(flower)
        print(f"Local stack up: Flower {flower.base_url} (user {flower.username})", flush=True)
        host, port = (
            os.environ.get("TASKLINE_HOST", "127.0.0.1"),
            int(os.environ.get("TASKLINE_PORT", "3000")),
        )
        os.environ.update(env)  # the demo's settings, for the preflight here and every process it starts
        # the demo stack on loopback, often in a root container
        os.environ.setdefault(settings.ALLOW_ROOT, "1")
        try:
            code = serve(host, port, dict(os.environ))
        except ServeError as error:
            sys.exit(f"make dev: {error}")
    sys.exit(code)


if __name__ == "__main__":
    main()
