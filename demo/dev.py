"""`make dev`: the local stack (Flower + SQLFlow stand-in) with a workload, and the Dagster UI + daemon on it."""

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from demo.sqlflow_standin import DEMO_USERS, SQLFlowStandIn
from demo.stack import FlowerStack
from demo.workload import run_workload

ROOT = Path(__file__).resolve().parent.parent
DEMO_SQL = ["demo/sql/*.sql"]


def dagster_home() -> Path:
    """A persistent DAGSTER_HOME with the instance settings in orchestration/dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME", ROOT / ".dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    return home


@contextmanager
def local_stack() -> Iterator[tuple[FlowerStack, dict[str, str]]]:
    """Flower (Redis + worker + Flower) and the SQLFlow stand-in, with the env vars that point taskline at them."""
    user_id, secret_key = next(iter(DEMO_USERS.items()))
    with FlowerStack(ROOT / ".demo" / "flower") as flower, SQLFlowStandIn() as sqlflow:
        env = {
            **flower.source_env(),
            "SOURCES__SQLFLOW__BASE_URL": sqlflow.base_url,
            "SOURCES__SQLFLOW__USER_ID": user_id,
            "SOURCES__SQLFLOW__SECRET_KEY": secret_key,
            "SOURCES__SQLFLOW__SQL_PATHS": json.dumps(DEMO_SQL),
        }
        yield flower, env


def main() -> None:
    with local_stack() as (flower, env):
        run_workload(flower)
        print(
            f"Local stack up: Flower {flower.base_url} (user {flower.username}); Dagster UI on http://127.0.0.1:3000"
        )
        command = [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml"]
        command += ["-h", "127.0.0.1", "-p", "3000"]
        run_until_stopped(command, {**os.environ, **env, "DAGSTER_HOME": str(dagster_home())})


def run_until_stopped(command: list[str], env: dict[str, str]) -> None:
    """Run `dagster dev` until Ctrl-C or SIGTERM, then stop it and everything it started."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM unwinds like Ctrl-C
    dagster = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    try:
        dagster.wait()
    except KeyboardInterrupt:
        os.killpg(dagster.pid, signal.SIGINT)
        try:
            dagster.wait(timeout=20)
        except subprocess.TimeoutExpired:  # its webserver and daemon do not always stop on SIGINT
            os.killpg(dagster.pid, signal.SIGKILL)
            dagster.wait()


if __name__ == "__main__":
    main()
