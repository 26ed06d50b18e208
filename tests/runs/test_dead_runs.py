"""A killed run never blocks the next, and a lock lost mid-run ends the run with one sentence.

Real parts only: a real Flower stack and the SQLFlow stand-in, the main job and `dagster-daemon` as
subprocesses on a persistent DAGSTER_HOME with the instance settings `make dev` installs, `kill -9`.
A real HTTP hop in front of Flower holds a page of /api/tasks to stop a run mid-extract; the dlt working
dir shows when a run is mid-load (the run is then frozen with SIGSTOP before it is killed).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack, pids_in_group
from demo.workload import run_workload, send_noop_tasks, wait_until_flower_has, wait_until_idle
from orchestration.settings import (
    DASHBOARDS_SCHEDULE,
    FLOWER_CAPTURE_SCHEDULE,
    FLOWER_MARTS_SCHEDULE,
    SQLFLOW_SCHEDULE,
)
from tests.fixtures.dagster_cli import job_command
from tests.fixtures.final_states import assert_every_task_once_in_its_final_state, query
from tests.fixtures.holders import duckdb_held_open
from tests.fixtures.paths import ROOT
from tests.fixtures.served import NEVER
from tests.fixtures.stalling_proxy import StallingProxy

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
# the main job but the dashboards' build: it reads what these runs write, after them, and kills nothing here
MAIN_JOB = [
    *[str(BIN / "dagster"), "asset", "materialize", "-m", "orchestration.definitions"],
    *["--select", "not group:dashboards"],
]
# the run after a killed one: what it must finish is the killed run's Flower load (the marts are built from
# whatever the loads hold, as tests/dbt checks)
CAPTURE_JOB = job_command("flower_capture")
WORKSPACE = ["-w", str(ROOT / "workspace.yaml")]
EXTRA_TASKS = 2000  # so that a load lasts long enough to be caught in the act
SMALL_PAGE = 100  # the extract needs several pages: the proxy holds the second one
RUN_TIMEOUT_S = 600
REAPED = "Marked failed by taskline: the process that ran it"


# --- the stack, shared by the tests of this module (each test has its own warehouse and DAGSTER_HOME) ---


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[FlowerStack]:
    with FlowerStack(tmp_path_factory.mktemp("dead_runs_flower")) as flower:
        run_workload(flower)
        send_noop_tasks(flower, EXTRA_TASKS)
        wait_until_flower_has(flower, 30 + EXTRA_TASKS)
        wait_until_idle(flower)
        yield flower


@pytest.fixture(scope="module")
def sqlflow() -> Iterator[SQLFlowStandIn]:
    with SQLFlowStandIn() as standin:
        yield standin


@pytest.fixture
def env(stack, sqlflow, isolated_warehouse, tmp_path) -> dict[str, str]:
    """The main job's environment, as `make dev` sets it: a persistent DAGSTER_HOME with our dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "orchestration" / "serve" / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        **demo_source_env(stack, sqlflow),
        "DUCKDB_PATH": str(isolated_warehouse),
        "DAGSTER_HOME": str(home),
    }


# --- processes ------------------------------------------------------------------------------------------


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_for(
    condition: Callable[[], bool], what: str, log: Path, process: subprocess.Popen | None = None, poll_s=0.2
) -> None:
    """Poll until `condition` holds; fail with the log's tail if `process` exits first or after 10 min."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} before {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{tail(log)}")
        time.sleep(poll_s)


def tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stalled_mid_extract(proxy: StallingProxy, env: dict[str, str], log: Path) -> subprocess.Popen:
    """The main job, reading Flower through `proxy` in small pages, once the proxy holds its second page."""
    stalled = {
        **env,
        "SOURCES__FLOWER__BASE_URL": proxy.base_url,
        "SOURCES__FLOWER__PAGE_SIZE": str(SMALL_PAGE),
    }
    job = start(MAIN_JOB, stalled, log)
    wait_for(proxy.held.is_set, "the second page of /api/tasks", log, job)
    return job


def run_job(env: dict[str, str], log: Path, job: list[str] = MAIN_JOB) -> int:
    process = start(job, env, log)
    try:
        return process.wait(RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill_group(process)
        pytest.fail(f"the job did not end within {RUN_TIMEOUT_S} s:\n{tail(log)}")


# --- the dlt working dir --------------------------------------------------------------------------------


def normalized_packages(warehouse: Path) -> Path:
    return warehouse.parent / ".dlt_pipelines" / "flower" / "load" / "normalized"


def pending_packages(warehouse: Path) -> list[str]:
    """Load packages of the flower pipeline that no load has finished (extracted or normalized)."""
    extracted = warehouse.parent / ".dlt_pipelines" / "flower" / "normalize" / "extracted"
    return [
        package
        for folder in (extracted, normalized_packages(warehouse))
        if folder.exists()
        for package in os.listdir(folder)
    ]


def extract_folders(warehouse: Path) -> list[str]:
    """The temporary folders extracts write into (each one renamed into a package when it completes)."""
    normalize = warehouse.parent / ".dlt_pipelines" / "flower" / "normalize"
    return [entry for entry in os.listdir(normalize) if entry not in (".version", "extracted")]


def loading_jobs(warehouse: Path) -> list[str]:
    """Files of the flower pipeline's jobs that DuckDB is loading right now."""
    try:
        return [
            job
            for package in os.listdir(normalized_packages(warehouse))
            for job in os.listdir(normalized_packages(warehouse) / package / "started_jobs")
        ]
    except OSError:  # not there yet, or moved on while listed
        return []


def freeze_mid_load(loader: int, warehouse: Path, log: Path, watched: subprocess.Popen) -> str:
    """Freeze process `loader` (SIGSTOP) the moment DuckDB loads a job of it; the pending package's id."""
    wait_for(lambda: bool(loading_jobs(warehouse)), "the flower load into DuckDB", log, watched, poll_s=0.001)
    os.kill(loader, signal.SIGSTOP)
    assert loading_jobs(warehouse), "the load ended before the run could be stopped"
    [pending] = os.listdir(normalized_packages(warehouse))
    return pending


def assert_finished(warehouse: Path, load_id: str) -> None:
    """dlt resumed the killed run's package (rows and cursor together) and recorded it as loaded."""
    rows = query(warehouse, f"select status from flower._dlt_loads where load_id = '{load_id}'")
    assert rows == [(0,)]
    assert (extract_folders(warehouse), pending_packages(warehouse)) == ([], [])


# --- what the warehouse and the instance hold ------------------------------------------------------------


def runs_oldest_first(env: dict[str, str]) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        return list(reversed(instance.get_runs()))


def failure_message(env: dict[str, str], run_id: str) -> str:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return failures[-1].dagster_event.message


def assert_dead_run_marked_failed_and_next_succeeded(env: dict[str, str]) -> None:
    dead, following = runs_oldest_first(env)[-2:]
    assert (dead.status, following.status) == (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS)
    assert failure_message(env, dead.run_id).startswith(REAPED)


# --- the tests ------------------------------------------------------------------------------------------


def test_a_run_killed_mid_extract_blocks_nothing_and_the_next_run_is_exact(
    stack, env, isolated_warehouse, tmp_path
):
    log = tmp_path / "main_job.log"
    with StallingProxy(stack.base_url) as proxy:
        kill_group(stalled_mid_extract(proxy, env, log))
    # the killed extract left its temporary folder, no package
    assert (len(extract_folders(isolated_warehouse)), pending_packages(isolated_warehouse)) == (1, [])

    assert run_job(env, log, CAPTURE_JOB) == 0, tail(log)

    assert (extract_folders(isolated_warehouse), pending_packages(isolated_warehouse)) == ([], [])
    assert_every_task_once_in_its_final_state(
        isolated_warehouse, stack, at_least=30 + EXTRA_TASKS, marts=False
    )
    assert_dead_run_marked_failed_and_next_succeeded(env)


def test_a_run_killed_mid_load_blocks_nothing_and_its_package_is_finished(
    stack, env, isolated_warehouse, tmp_path
):
    log = tmp_path / "main_job.log"
    killed = start(MAIN_JOB, env, log)
    pending = freeze_mid_load(killed.pid, isolated_warehouse, log, killed)
    kill_group(killed)

    assert run_job(env, log, CAPTURE_JOB) == 0, tail(log)

    assert f"Finished dlt load package {pending}, left by an interrupted run" in log.read_text()
    assert_finished(isolated_warehouse, pending)
    assert_every_task_once_in_its_final_state(
        isolated_warehouse, stack, at_least=30 + EXTRA_TASKS, marts=False
    )
    assert_dead_run_marked_failed_and_next_succeeded(env)


def test_a_dbt_build_left_running_by_a_killed_run_is_waited_for(stack, env, isolated_warehouse, tmp_path):
    log = tmp_path / "main_job.log"
    killed = start(MAIN_JOB, env, log)
    wait_for(lambda: dbt_build_with_the_warehouse_open(killed, isolated_warehouse), "dbt", log, killed, 0.01)
    dbt = dbt_build_with_the_warehouse_open(killed, isolated_warehouse)
    os.kill(dbt, signal.SIGSTOP)  # the build keeps the file open for as long as the test needs
    try:
        os.kill(killed.pid, signal.SIGKILL)  # `kill -9 <pid>` of the run: its dbt child lives on
        killed.wait()
        following = start(MAIN_JOB, env, log)
        wait_for(lambda: "that was killed, still has it open" in log.read_text(), "the wait", log, following)
        os.kill(dbt, signal.SIGCONT)
        assert following.wait(RUN_TIMEOUT_S) == 0, tail(log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(dbt, signal.SIGKILL)
    assert_every_task_once_in_its_final_state(isolated_warehouse, stack, at_least=30 + EXTRA_TASKS)
    assert_dead_run_marked_failed_and_next_succeeded(env)


def dbt_build_with_the_warehouse_open(job: subprocess.Popen, warehouse: Path) -> int | None:
    """The pid of the job's `dbt build` child once it has the warehouse file open."""
    for pid in pids_in_group(job.pid):
        with contextlib.suppress(OSError):
            if b"build" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") and any(
                os.readlink(fd) == str(warehouse) for fd in Path(f"/proc/{pid}/fd").iterdir()
            ):
                return pid
    return None


def test_a_daemon_launched_run_killed_mid_load_is_reaped_and_the_next_run_is_exact(
    stack, env, isolated_warehouse, tmp_path
):
    log = tmp_path / "daemon.log"
    # the schedules tick never: the daemon runs only what the test launches (its sensors run as always)
    env |= {
        schedule: NEVER
        for schedule in (
            FLOWER_CAPTURE_SCHEDULE,
            FLOWER_MARTS_SCHEDULE,
            SQLFLOW_SCHEDULE,
            DASHBOARDS_SCHEDULE,
        )
    }
    assert run_job(env, log, CAPTURE_JOB) == 0, tail(log)  # a warehouse the killed capture adds to
    daemon = start([str(BIN / "dagster-daemon"), "run", *WORKSPACE], env, log)
    try:
        launch_flower_capture(env, log)
        wait_for(lambda: run_worker(env) is not None, "the run to start", log, daemon)
        worker = run_worker(env)
        pending = freeze_mid_load(worker, isolated_warehouse, log, daemon)
        # the run worker, its code server and the daemon all die: nothing is left that knows the run
        kill_group(daemon)
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
        dead = runs_oldest_first(env)[-1]
        assert dead.status == dg.DagsterRunStatus.STARTED

        daemon = start([str(BIN / "dagster-daemon"), "run", *WORKSPACE], env, log)
        wait_for(
            lambda: run_status(env, dead.run_id) == dg.DagsterRunStatus.FAILURE, "the sensor", log, daemon
        )
        assert failure_message(env, dead.run_id).startswith(REAPED)

        launch_flower_capture(env, log)
        wait_for(lambda: runs_oldest_first(env)[-1].is_finished, "the next run", log, daemon)
    finally:
        kill_group(daemon)
    assert_dead_run_marked_failed_and_next_succeeded(env)
    assert_finished(isolated_warehouse, pending)
    assert_every_task_once_in_its_final_state(
        isolated_warehouse, stack, at_least=30 + EXTRA_TASKS, marts=False
    )


def launch_flower_capture(env: dict[str, str], log: Path) -> None:
    """The daemon runs a capture (what the reaper and the finished package are about; no dbt)."""
    launch = start([str(BIN / "dagster"), "job", "launch", "-j", "flower_capture", *WORKSPACE], env, log)
    assert launch.wait(RUN_TIMEOUT_S) == 0, tail(log)


def run_status(env: dict[str, str], run_id: str) -> dg.DagsterRunStatus:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        return instance.get_run_by_id(run_id).status


def run_worker(env: dict[str, str]) -> int | None:
    """The pid of the process executing the newest run, once it has started."""
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        run = instance.get_runs(limit=1)[0]
        starts = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_START)
    return starts[-1].dagster_event.pid if starts else None


def test_a_lock_taken_mid_load_ends_the_run_with_one_sentence(stack, env, isolated_warehouse, tmp_path):
    log = tmp_path / "main_job.log"
    with StallingProxy(stack.base_url) as proxy:
        job = stalled_mid_extract(proxy, env, log)
        # past the pre-check: a notebook opens the warehouse while the load still extracts
        with duckdb_held_open(isolated_warehouse, read_only=True) as notebook:
            proxy.release.set()
            assert job.wait(RUN_TIMEOUT_S) != 0

    run = runs_oldest_first(env)[-1]
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        step_failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    # flower lost the lock inside its load; sqlflow, next, met the notebook at its pre-check
    assert [entry.step_key for entry in step_failures] == ["flower", "sqlflow"]
    sentence = (
        f"DuckDB warehouse {isolated_warehouse} is locked by process {notebook.pid} ({Path(sys.executable).resolve()}): "
        "DuckDB allows one writer at a time. Close that process (a dbt docs server, a notebook, another "
        "load) and retry."
    )
    for entry in step_failures:
        failure = entry.dagster_event.step_failure_data
        assert failure.user_failure_data.description == sentence
        assert (
            failure.error.message.splitlines()[0] == f"dagster._core.definitions.events.Failure: {sentence}"
        )
        assert (failure.error.cause, failure.error.context) == (None, None)
        rendered = failure.error.to_string()
        assert "The above exception was the direct cause" not in rendered
        assert "During handling of the above exception" not in rendered
    assert run.status == dg.DagsterRunStatus.FAILURE
