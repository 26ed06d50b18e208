"""An estate of Celery clusters captured by one `make serve`, against real Flower stacks (each its own Redis,
worker and Flower; the last on Flower 2.0.1):

    python -m tests.bench.bench_estate [--clusters 3] [--rate 50] [--seconds 240] [--small-flower 5000]
                                       [--full-flower 100000] [--only sustained|full]

Sustained: `--rate` etl.noop tasks a second into each cluster's Flower (started with
--max_tasks=`--small-flower`) for `--seconds`, all at once, while make serve captures them (the schedule and a
pressure sensor per cluster): tasks sent, captured and lost per cluster, and each cluster's runs. Then one
no-change capture per cluster. Target: 0 lost in every cluster.
Full: new clusters, each Flower holding `--full-flower` tasks (Flower's default --max_tasks): the first capture
of all of them at once (each its own process, as the schedule launches them), then a no-change capture of each.
Not collected by pytest.
"""

import argparse
import contextlib
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb

from demo.stack import FlowerStack, free_port
from demo.workload import send_noop_tasks, wait_until_flower_has, wait_until_idle
from orchestration.serve.server import initialise_storage
from tests.bench.traffic import BIN, base_env, send_at_rate, wait_for_runs_to_finish
from tests.fixtures.paths import ROOT

FLOWER_RELEASES = ("2.2.0", "2.2.0", "2.0.1")
FILL_TIMEOUT_S = 3600


def estate_env(stacks: dict[str, FlowerStack], workdir: Path, max_tasks: int) -> dict[str, str]:
    """One deployment declaring every stack as a cluster; nothing at the single-Flower level but what they share."""
    first = next(iter(stacks.values()))
    env = {
        name: value
        for name, value in base_env(first, workdir).items()
        if name not in ("SOURCES__FLOWER__BASE_URL",)
    }
    for name, stack in stacks.items():
        prefix = f"SOURCES__FLOWER__CLUSTERS__{name.upper()}__"
        env |= {
            f"{prefix}BASE_URL": stack.base_url,
            f"{prefix}USERNAME": stack.username,
            f"{prefix}PASSWORD": stack.password,
            f"{prefix}MAX_TASKS": str(max_tasks),
        }
    return env


def serving(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        serve = subprocess.Popen(
            [str(BIN / "python"), "-m", "orchestration.serve", "--port", str(free_port())],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 300
    while "taskline is up" not in log.read_text():
        if serve.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"make serve did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    return serve


def traffic(stacks: dict[str, FlowerStack], rate: int, seconds: int) -> dict[str, list[str]]:
    """`rate` tasks a second into every cluster at once, one sender thread each."""
    sent: dict[str, list[str]] = {}

    def send(name: str) -> None:
        sent[name] = send_at_rate(stacks[name], rate, seconds)

    senders = [threading.Thread(target=send, args=(name,)) for name in stacks]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    return sent


def captured_per_cluster(warehouse: str, sent: dict[str, list[str]]) -> dict[str, int]:
    with duckdb.connect(warehouse, read_only=True) as connection:
        connection.execute("create temp table sent (cluster varchar, uuid varchar)")
        connection.executemany(
            "insert into sent values (?, ?)", [(name, uuid) for name, uuids in sent.items() for uuid in uuids]
        )
        rows = connection.execute(
            "select cluster, count(*) from sent join flower.tasks using (cluster, uuid) group by 1"
        ).fetchall()
    return dict(rows)


def runs_per_cluster(home: Path) -> dict[str, list[float]]:
    """Each cluster's capture runs: how long each took from launch to end."""
    durations: dict[str, list[float]] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in instance.get_runs(dg.RunsFilter(job_name="flower_capture")):
            stats = instance.get_run_stats(run.run_id)
            if stats.end_time and stats.launch_time:
                cluster = run.tags.get("dagster/partition", "?")
                durations.setdefault(cluster, []).append(stats.end_time - stats.launch_time)
    return durations


def capture_command(env: dict[str, str], cluster: str, log: Path) -> subprocess.Popen:
    command = [str(BIN / "dagster"), "asset", "materialize", "-m", "orchestration.definitions", "--select",
               "key:flower/*", "--partition", cluster]  # fmt: skip
    with log.open("a") as out:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=out)


def no_change_capture_s(env: dict[str, str], cluster: str, log: Path) -> float:
    started = time.perf_counter()
    if capture_command(env, cluster, log).wait():
        raise RuntimeError(f"the capture of {cluster} failed:\n{log.read_text()[-3000:]}")
    return time.perf_counter() - started


def fill(stacks: dict[str, FlowerStack], tasks: int) -> float:
    """Every Flower filled to `tasks` at once, one sender thread each, until none has a task in flight."""
    started = time.monotonic()

    def fill_one(stack: FlowerStack) -> None:
        for sent in range(0, tasks, 10_000):
            send_noop_tasks(stack, min(10_000, tasks - sent))
        wait_until_flower_has(stack, tasks, timeout=FILL_TIMEOUT_S)
        wait_until_idle(stack, timeout=FILL_TIMEOUT_S)

    fillers = [threading.Thread(target=fill_one, args=(stack,)) for stack in stacks.values()]
    for filler in fillers:
        filler.start()
    for filler in fillers:
        filler.join()
    return time.monotonic() - started


def full_flowers(args: argparse.Namespace, names: list[str], workdir: Path) -> None:
    with contextlib.ExitStack() as stack_of:
        stacks = {
            name: stack_of.enter_context(
                FlowerStack(workdir / name, flower_release=FLOWER_RELEASES[index % 3])
            )
            for index, name in enumerate(names)
        }
        print(f"filling {len(names)} Flowers with {args.full_flower:,} tasks each ...", flush=True)
        print(f"  filled in {fill(stacks, args.full_flower):.0f} s", flush=True)
        env = estate_env(stacks, workdir / "full", args.full_flower)
        initialise_storage(
            Path(env["DAGSTER_HOME"])
        )  # three processes creating a new instance's tables collide
        log = workdir / "full_captures.log"
        started = time.perf_counter()
        captures = {name: capture_command(env, name, log) for name in names}
        ended = {}
        while len(ended) < len(captures):
            for name, process in captures.items():
                if name not in ended and process.poll() is not None:
                    if process.returncode:
                        raise RuntimeError(f"the first capture of {name} failed:\n{log.read_text()[-3000:]}")
                    ended[name] = time.perf_counter() - started
            time.sleep(0.2)
        with duckdb.connect(env["DUCKDB_PATH"], read_only=True) as connection:
            loaded = dict(
                connection.execute("select cluster, count(*) from flower.tasks group by 1").fetchall()
            )
        print(f"\n== {len(names)} full Flowers ({args.full_flower:,} tasks held each) ==")
        for name, release in zip(names, FLOWER_RELEASES, strict=False):
            print(
                f"{name} (Flower {release}): first capture, launched with the others at once, ended after "
                f"{ended[name]:.1f} s; {loaded.get(name, 0):,} tasks in the warehouse",
                flush=True,
            )
        print(f"all {len(names)} first captures: {max(ended.values()):.1f} s", flush=True)
        for name in names:
            seconds = no_change_capture_s(env, name, log)
            print(
                f"{name}: a no-change capture at {args.full_flower:,} held, as a command: {seconds:.1f} s",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=240)
    parser.add_argument("--small-flower", type=int, default=5000)
    parser.add_argument("--full-flower", type=int, default=100_000)
    parser.add_argument("--only", choices=("sustained", "full"))
    args = parser.parse_args()
    names = [f"cluster{index}" for index in range(1, args.clusters + 1)]
    if args.only != "full":
        sustained(args, names)
    if args.only != "sustained":
        with tempfile.TemporaryDirectory(prefix="bench_estate_full_") as scratch:
            full_flowers(args, names, Path(scratch))


def sustained(args: argparse.Namespace, names: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_estate_") as scratch, contextlib.ExitStack() as stack_of:
        workdir = Path(scratch)
        stacks = {
            name: stack_of.enter_context(
                FlowerStack(
                    workdir / name, max_tasks=args.small_flower, flower_release=FLOWER_RELEASES[index % 3]
                )
            )
            for index, name in enumerate(names)
        }
        env = estate_env(stacks, workdir / "estate", args.small_flower)
        serve = serving(env, workdir / "serve.log")
        try:
            print(
                f"sending {args.rate} tasks/s into each of {len(names)} Flowers (--max_tasks={args.small_flower}) "
                f"for {args.seconds} s ...",
                flush=True,
            )
            sent = traffic(stacks, args.rate, args.seconds)
            for stack in stacks.values():
                wait_until_idle(stack, timeout=300)
            wait_for_runs_to_finish(Path(env["DAGSTER_HOME"]))
        finally:
            os.killpg(serve.pid, 15)
            serve.wait(60)
        captured = captured_per_cluster(env["DUCKDB_PATH"], sent)
        durations = runs_per_cluster(Path(env["DAGSTER_HOME"]))
        print(f"\n== {len(names)} clusters, {args.rate} tasks/s each for {args.seconds} s, one make serve ==")
        for name, release in zip(names, FLOWER_RELEASES, strict=False):
            runs = sorted(durations.get(name, []))
            lost = len(sent[name]) - captured.get(name, 0)
            print(
                f"{name} (Flower {release}): sent {len(sent[name]):,}, captured {captured.get(name, 0):,}, "
                f"lost {lost:,} (target 0); {len(runs)} captures, launch to end median "
                f"{runs[len(runs) // 2] if runs else float('nan'):.1f} s, longest "
                f"{max(runs, default=float('nan')):.1f} s",
                flush=True,
            )
        for name in names:
            seconds = no_change_capture_s(env, name, workdir / "captures.log")
            print(f"{name}: a no-change capture afterwards, as a command: {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
