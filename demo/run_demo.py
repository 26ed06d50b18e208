"""`make demo`: local stack → workload → every asset materialised (the dbt docs and the dashboards too) → a summary
→ stack stopped."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from demo.dev import demo_dagster_home, local_stack
from demo.summary import print_summary
from demo.workload import run_workload
from orchestration import settings
from orchestration.settings import dashboards_dir, docs_dir
from orchestration.warehouse.engine import publish_warehouse_path

ROOT = Path(__file__).resolve().parent.parent


def materialize_everything(env: dict[str, str]) -> None:
    """The main job, as a user runs it; its (long) Dagster log goes to a file, its tail shown on failure."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "asset", "materialize", "-m", "orchestration.definitions", "--select", "*"]
    log = ROOT / ".demo" / "materialize.log"
    print(f"\n$ {' '.join(command[:-1])} '*'    (log: {log.relative_to(ROOT)})", flush=True)
    with log.open("w") as output:
        completed = subprocess.run(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    if completed.returncode != 0:
        print("".join(log.read_text().splitlines(keepends=True)[-40:]))
        raise SystemExit(f"The main job failed (exit {completed.returncode}); full log: {log}")
    print("  every Flower and SQLFlow asset loaded, dbt build passed, dashboards built")


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the stack is stopped
    warehouse = publish_warehouse_path()
    with local_stack() as (flower, env):
        print(f"Flower at {flower.base_url}: running the demo workload …", flush=True)
        workload = run_workload(flower)
        print(f"  {workload}")
        materialize_everything({**os.environ, **env, "DAGSTER_HOME": str(demo_dagster_home())})
    print(f"\nWarehouse: {warehouse}")
    print(
        f"dbt docs: {docs_dir() / 'static_index.html'} (one page to open in a browser; `make docs` serves them)"
    )
    print(
        f"dashboards: {dashboards_dir() / 'site'} (`make dashboards` serves them on "
        f"http://127.0.0.1:{settings.value(settings.DASHBOARDS_PORT)}/dashboards/; `make serve` at /dashboards/)"
    )
    print_summary(warehouse)


if __name__ == "__main__":
    main()
