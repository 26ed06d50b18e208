"""`make demo`: local stack → workload → every asset materialised → dbt docs → a summary → stack stopped."""

import os
import subprocess
import sys
from pathlib import Path

from demo.dev import dagster_home, local_stack
from demo.docs import build_docs
from demo.summary import print_summary
from demo.workload import run_workload
from sources.warehouse import publish_warehouse_path

ROOT = Path(__file__).resolve().parent.parent


def materialize_everything(env: dict[str, str]) -> None:
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "asset", "materialize", "-m", "orchestration.definitions", "--select", "*"]
    print("\n$ " + " ".join(command[:-1]) + " '*'", flush=True)
    subprocess.run(command, env=env, cwd=ROOT, check=True)


def main() -> None:
    warehouse = publish_warehouse_path()
    with local_stack() as (flower, env):
        print(f"Flower at {flower.base_url}: running the demo workload …", flush=True)
        workload = run_workload(flower)
        print(f"  {workload}")
        materialize_everything({**os.environ, **env, "DAGSTER_HOME": str(dagster_home())})
    page = build_docs()
    print(f"\nWarehouse: {warehouse}")
    print(f"dbt docs: {page} (open it in a browser, or run `make docs` to serve them)")
    print_summary(warehouse)


if __name__ == "__main__":
    main()
