"""Dead runs: a run whose process was killed (kill -9, OOM, a crash) stays STARTED forever; mark it failed.

The process that executes a run records its pid in the run's RUN_START event. When that process is gone,
and no newer process has taken its pid, the run is reported failed and any concurrency slot it holds is
freed. Every warehouse-writing step reaps before it starts (shell runs), and a sensor reaps for the daemon.
"""

import logging
import os
import time
from pathlib import Path

import dagster as dg
from dagster._core.storage.runs.sqlite import SqliteRunStorage

UNFINISHED_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
# A process's start time comes from the boot clock, which drifts from the wall clock of the run's start
# (NTP slewing; a paused or snapshotted VM: seconds within one run here, enough for a tolerance of a second
# to mark that live run failed). A pid reused within a minute of the run's start would need the run dead and the pid space wrapped
# within that minute.
START_TOLERANCE_S = 60.0


def reap_dead_runs(instance: dg.DagsterInstance, log: logging.Logger) -> list[str]:
    """Report every unfinished run whose process is gone as failed; the ids of those runs."""
    if not isinstance(instance.run_storage, SqliteRunStorage):
        log.debug(
            "Dead-run reaper skipped: the Dagster instance stores runs in %s, not in sqlite under "
            "DAGSTER_HOME, so their processes may live on other machines",
            type(instance.run_storage).__name__,
        )
        return []
    reaped = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED_STATUSES)):
        run_id = record.dagster_run.run_id
        worker = run_worker(instance, run_id)
        if worker is None or not process_is_gone(*worker):
            continue
        run = instance.get_run_by_id(run_id)  # again: it may have ended before its process exited
        if run is None or run.is_finished:
            continue
        pid = worker[0]
        instance.report_run_failed(
            run,
            f"Marked failed by taskline: the process that ran it (pid {pid}) is gone, killed or crashed "
            "before it could report an end. The next run redoes its work; a dlt load it left unfinished "
            "is completed there.",
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        log.warning(f"Marked run {run_id} ({run.job_name}) failed: its process {pid} is gone")
        reaped.append(run_id)
    return reaped


def run_worker(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, start time) of the process that last started executing the run, from its RUN_START event."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, ascending=False, limit=1
    ).records
    if not records:
        return None  # launched, not yet started: nothing to judge by
    entry = records[0].event_log_entry
    pid = entry.dagster_event.pid if entry.dagster_event else None
    return (pid, entry.timestamp) if pid else None


def process_is_gone(pid: int, run_started_at: float) -> bool:
    """True when `pid` is dead, a zombie, or belongs to a process that started after the run did."""
    if not Path("/proc").is_dir():  # no start times to compare: trust the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    started_at = process_started_at(pid)
    return started_at is None or started_at > run_started_at + START_TOLERANCE_S


def process_started_at(pid: int) -> float | None:
    """Epoch seconds at which `pid` started (Linux /proc); None for no such process or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    except OSError:
        return None
    # fields after the ")" that closes the command name: state is the first, starttime the twentieth
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return time.time() - uptime_s + int(fields[19]) / os.sysconf("SC_CLK_TCK")


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs whose process is gone (killed or crashed) as failed, so the UI tells the truth.",
)
def reap_dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    reaped = reap_dead_runs(context.instance, context.log)
    return dg.SkipReason(
        f"Marked {len(reaped)} dead run(s) failed: {', '.join(reaped)}" if reaped else "No dead run"
    )
