"""The dead-run reaper against a real sqlite Dagster instance and real processes (alive, killed, reused)."""

import logging
import os
import subprocess
import sys
import time

import dagster as dg
import pytest

from orchestration.runs.reaper import reap_dead_runs, reap_dead_runs_sensor
from tests.fixtures.dagster_runs import started_run

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
POOL = "duckdb_warehouse"
log = logging.getLogger("test_reaper")


@pytest.fixture
def instance(tmp_path):
    with dg.DagsterInstance.from_config(str(tmp_path)) as local:
        yield local


@pytest.fixture
def sleeper():
    """A live process whose pid a run can name."""
    process = subprocess.Popen(SLEEPER)
    yield process
    process.kill()
    process.wait()


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    return instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1].dagster_event.message


def test_a_run_whose_process_was_killed_is_marked_failed_and_frees_its_slot(instance, sleeper):
    run_id = started_run(instance, sleeper.pid, time.time())
    instance.event_log_storage.set_concurrency_slots(POOL, 1)
    instance.event_log_storage.claim_concurrency_slot(POOL, run_id, "flower")
    sleeper.kill()
    # dead but not reaped: SIGKILL lands asynchronously, and a zombie must count as dead too
    os.waitid(os.P_PID, sleeper.pid, os.WEXITED | os.WNOWAIT)

    assert reap_dead_runs(instance, log) == [run_id]

    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE
    assert failure_message(instance, run_id).startswith(
        f"Marked failed by taskline: the process that ran it (pid {sleeper.pid}) is gone"
    )
    assert instance.event_log_storage.get_concurrency_info(POOL).active_slot_count == 0
    assert reap_dead_runs(instance, log) == []  # once


def test_a_run_whose_process_lives_is_left_alone(instance, sleeper):
    run_id = started_run(instance, sleeper.pid, time.time())
    assert reap_dead_runs(instance, log) == []
    assert status(instance, run_id) == dg.DagsterRunStatus.STARTED


def test_a_pid_reused_by_a_newer_process_does_not_keep_a_dead_run_alive(instance, sleeper):
    # the run started an hour ago; the live process with its pid started only now
    run_id = started_run(instance, sleeper.pid, time.time() - 3600)
    assert reap_dead_runs(instance, log) == [run_id]
    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE


def test_a_live_run_is_left_alone_when_the_clocks_disagree_by_seconds(instance, sleeper):
    # the wall clock stepped 30 s ahead of the boot clock since the run started (a paused VM): the run's
    # recorded start now looks half a minute older than its process
    run_id = started_run(instance, sleeper.pid, time.time() - 30)
    assert reap_dead_runs(instance, log) == []
    assert status(instance, run_id) == dg.DagsterRunStatus.STARTED


def test_a_launched_run_not_yet_started_is_left_alone(instance):
    run = instance.add_run(dg.DagsterRun(job_name="flower_load", status=dg.DagsterRunStatus.STARTING))
    assert reap_dead_runs(instance, log) == []
    assert status(instance, run.run_id) == dg.DagsterRunStatus.STARTING


def test_an_instance_not_stored_on_this_machine_is_not_reaped(caplog):
    with dg.DagsterInstance.ephemeral() as ephemeral, caplog.at_level(logging.DEBUG, logger=log.name):
        assert reap_dead_runs(ephemeral, log) == []
    assert "Dead-run reaper skipped: the Dagster instance stores runs in InMemoryRunStorage" in caplog.text


def test_the_sensor_reaps_for_the_daemon(instance, sleeper):
    run_id = started_run(instance, sleeper.pid, time.time())
    sleeper.kill()
    sleeper.wait()
    skip = reap_dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert skip.skip_message == f"Marked 1 dead run(s) failed: {run_id}"
    assert status(instance, run_id) == dg.DagsterRunStatus.FAILURE
