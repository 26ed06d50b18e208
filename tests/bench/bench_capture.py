"""Keeping up with a busy Celery estate, against real Flower stacks, in one run:

    python -m tests.bench.bench_capture [--tasks 100000] [--rate 100] [--seconds 240] [--small-flower 5000]

(a) sustained traffic: `--rate` etl.noop tasks a second for `--seconds` into a Flower started with
    --max_tasks=`--small-flower`, under `make serve` (daemon, schedules and the capture sensor as a new user
    gets them; SOURCES__FLOWER__MAX_TASKS told Flower's --max_tasks): tasks sent, captured, lost;
(b) a full Flower (`--tasks` held) with nothing new: one `flower_capture` run, as a command and as a run, with
    its steps (the completeness check among them);
(c) reading those tasks the way a first capture walks them vs plain paged GETs at the same page size; and what
    the capture sensor's reading costs (/metrics) against one small /api/tasks request.
Targets: (a) 0 lost; (b) <= 20 s check included; (c) within 1.2x. Not collected by pytest.
"""

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import dagster as dg
import duckdb

from demo.stack import FlowerStack, free_port
from demo.workload import send_noop_tasks, wait_until_flower_has, wait_until_idle
from sources.flower.client import FlowerApi
from sources.flower.settings import DEFAULT_PAGE_SIZE
from sources.flower.tasks import TasksWalk
from tests.bench.run_steps import steps_of_latest_run
from tests.bench.traffic import BIN, base_env, send_at_rate, wait_for_runs_to_finish
from tests.fixtures.dagster_cli import job_command
from tests.fixtures.paths import ROOT

FILL_TIMEOUT_S = 1800
LOOKBACK_S = 10 * 60  # .dlt/config.toml's lookback_minutes


def capture_command(env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("a") as out:
        subprocess.run(job_command("flower_capture"), env=env, cwd=ROOT, stdout=out, stderr=out, check=True)
    return time.perf_counter() - started


def no_change_capture(env: dict[str, str], log: Path) -> tuple[float, float, list[tuple[str, float]]]:
    command_s = capture_command(env, log)
    run_s, steps = steps_of_latest_run(Path(env["DAGSTER_HOME"]))
    return command_s, run_s, steps


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def plain_gets(stack: FlowerStack, page_size: int) -> int:
    count, offset = 0, 0
    while True:
        params = {"sort_by": "-received", "limit": page_size, "offset": offset}
        page = stack.api_get("/api/tasks", params=params, timeout=300).json()
        count += len(page)
        if len(page) < page_size:
            return count
        offset += page_size


def walk_read(stack: FlowerStack, page_size: int) -> int:
    """Every page a first capture reads (no cursor yet), parsed into task dicts as the source does."""
    api = FlowerApi(stack.base_url, stack.username, stack.password, None, request_timeout=300)
    return sum(
        len(page) for page in TasksWalk(api, page_size, {}, lookback_minutes=10, cluster="default").pages()
    )


def full_flower(args: argparse.Namespace, workdir: Path) -> list[str]:
    lines = []
    with FlowerStack(workdir / "stack") as stack:
        print(f"filling Flower with {args.tasks:,} tasks ...", flush=True)
        started = time.monotonic()
        for sent in range(0, args.tasks, 10_000):
            send_noop_tasks(stack, min(10_000, args.tasks - sent))
        wait_until_flower_has(stack, args.tasks, timeout=FILL_TIMEOUT_S)
        wait_until_idle(stack, timeout=FILL_TIMEOUT_S)
        filled_at = time.time()
        print(f"  filled in {time.monotonic() - started:.0f} s", flush=True)

        plain_s, plain_n = timed(lambda: plain_gets(stack, DEFAULT_PAGE_SIZE))
        walk_s, walk_n = timed(lambda: walk_read(stack, DEFAULT_PAGE_SIZE))
        metrics_s = min(timed(lambda: stack.api_get("/metrics"))[0] for _ in range(5))
        small_s = min(timed(lambda: stack.api_get("/api/tasks", params={"limit": 1}))[0] for _ in range(3))

        env = base_env(stack, workdir / "full")
        log = workdir / "full" / "captures.log"
        first_s = capture_command(env, log)
        no_change = {"within the look-back (all re-read)": no_change_capture(env, log)}
        # a walk re-reads what arrived within the look-back (10 minutes) before the previous walk began: once
        # one began that long after the last task, the next reads only what is new
        time.sleep(max(0.0, filled_at + LOOKBACK_S + 5 - time.time()))
        capture_command(env, log)
        no_change["past the look-back"] = no_change_capture(env, log)
        with duckdb.connect(env["DUCKDB_PATH"], read_only=True) as connection:
            [(loaded,)] = connection.execute("select count(*) from flower.tasks").fetchall()

    lines.append(
        f"== (b) a full Flower ({args.tasks:,} tasks held, {loaded:,} in the warehouse), nothing new =="
    )
    lines.append(f"first capture (reads all of them): {first_s:5.1f} s as a command")
    for when, (command_s, run_s, steps) in no_change.items():
        lines.append(f"no-change capture, {when}: {command_s:5.1f} s as a command, {run_s:5.1f} s as a run")
        lines.append("    " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps))
    lines.append("    (target <= 20 s)")
    lines.append(f"== (c) reading {plain_n:,} tasks in pages of {DEFAULT_PAGE_SIZE:,} ==")
    lines.append(f"plain GETs (sort_by=-received): {plain_s:6.2f} s")
    lines.append(
        f"a first capture's walk:         {walk_s:6.2f} s ({walk_n:,} tasks), {walk_s / plain_s:.2f}x (target <= 1.2x)"
    )
    lines.append(
        f"the capture sensor's reading: /metrics {metrics_s * 1000:.0f} ms; one /api/tasks?limit=1 "
        f"{small_s * 1000:.0f} ms (Flower sorts all it holds for each)"
    )
    return lines


def sustained(args: argparse.Namespace, workdir: Path) -> list[str]:
    with FlowerStack(workdir / "small_stack", max_tasks=args.small_flower) as stack:
        env = {**base_env(stack, workdir / "sustained"), "SOURCES__FLOWER__MAX_TASKS": str(args.small_flower)}
        if args.marts_cron:
            env["TASKLINE_FLOWER_MARTS_SCHEDULE"] = args.marts_cron
        serve_log = workdir / "sustained" / "serve.log"
        port = free_port()
        with serve_log.open("w") as out:
            serve = subprocess.Popen(
                [str(BIN / "python"), "-m", "orchestration.serve", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 300
            while "taskline is up" not in serve_log.read_text():
                if serve.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"make serve did not come up:\n{serve_log.read_text()[-3000:]}")
                time.sleep(1)
            print(
                f"sending {args.rate} tasks/s for {args.seconds} s into --max_tasks={args.small_flower} ...",
                flush=True,
            )
            traffic_began = time.time()
            sent = send_at_rate(stack, args.rate, args.seconds)
            wait_until_idle(stack, timeout=300)
            wait_for_runs_to_finish(Path(env["DAGSTER_HOME"]))
        finally:
            os.killpg(serve.pid, 15)
            serve.wait(60)
        runs = runs_during(Path(env["DAGSTER_HOME"]), traffic_began)
        final_s = capture_command(env, workdir / "sustained" / "final_capture.log")  # what Flower still holds
        with duckdb.connect(env["DUCKDB_PATH"], read_only=True) as connection:
            connection.execute("create temp table sent (uuid varchar)")
            connection.executemany("insert into sent values (?)", [(uuid,) for uuid in sent])
            [(captured,)] = connection.execute(
                "select count(*) from sent join flower.tasks using (uuid)"
            ).fetchall()
    return [
        f"== (a) {args.rate} tasks/s for {args.seconds} s into a Flower with --max_tasks={args.small_flower}, "
        "under make serve ==",
        f"tasks sent {len(sent):,}, captured {captured:,}, lost {len(sent) - captured:,} (target 0)",
        "runs:",
        *runs,
        f"a last capture afterwards (what Flower still held) took {final_s:.1f} s",
    ]


def runs_during(home: Path, since: float) -> list[str]:
    """Every run: its job, trigger, start (s after the traffic began), duration; and the longest gap between
    two captures' starts (past Flower's room at the rate, unread tasks are evicted)."""
    lines, starts = [], []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in reversed(instance.get_runs()):
            stats = instance.get_run_stats(run.run_id)
            trigger = (
                run.tags.get("dagster/sensor_name") or run.tags.get("dagster/schedule_name") or "by hand"
            )
            began = (stats.launch_time or stats.start_time or since) - since
            took = (
                (stats.end_time - stats.start_time) if stats.end_time and stats.start_time else float("nan")
            )
            lines.append(
                f"    {run.job_name:15} {trigger:32} launched at {began:6.1f} s, ran {took:5.1f} s, {run.status.value}"
            )
            if run.job_name == "flower_capture" and stats.start_time:
                starts.append(stats.start_time)
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    lines.append(f"    longest gap between two captures starting: {max(gaps, default=0):.1f} s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=240)
    parser.add_argument("--small-flower", type=int, default=5000)
    parser.add_argument("--only", choices=["sustained", "full"], help="run one half")
    parser.add_argument("--marts-cron", help="(a) with another flower_marts schedule, e.g. '*/2 * * * *'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_capture_") as scratch:
        workdir = Path(scratch)
        report = []
        if args.only != "full":
            report += sustained(args, workdir)
        if args.only != "sustained":
            report += full_flower(args, workdir)
    print("\n" + "\n".join(report))


if __name__ == "__main__":
    main()
