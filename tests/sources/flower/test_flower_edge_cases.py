"""Celery's own failure modes on a real worker and Flower (both release lines), through the load and the marts.

One batch of edge-case tasks per Flower line (demo/celery_app.py, `edge.*`), sent to the shared session stack:
first a task reporting PROGRESS and one terminated while it runs, loaded and modelled by the `flower_marts` job
while PROGRESS is in flight; then hard and soft time limits, a pool child killed with SIGKILL, one that calls
`os._exit`, `Reject(requeue=False)`, `Ignore`, `Retry`, an ETA task, an expired and a pending revoke, loaded and
modelled again once PROGRESS finished. Every test below reads those two builds (one warehouse per Flower line).
"""

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo.celery_app import make_app
from demo.stack import FlowerStack
from orchestration.dbt.assets import dbt_steps
from orchestration.warehouse.pipelines import make_pipeline
from sources.flower import flower_source
from tests.fixtures.deployments import deployment

pytestmark = pytest.mark.integration

CUSTOM_STATES_TEST = "tasks_in_custom_states"


@dataclass
class Build:
    """What one load and the flower_marts job after it did: the run, the custom-state check, and (`rows`) the
    warehouse they left (read at once: the next load changes it)."""

    succeeded: bool
    custom_state_check: dg.AssetCheckEvaluation | None
    warehouse: Path
    answers: dict[str, list[tuple] | duckdb.Error]

    def rows(self, sql: str) -> list[tuple]:
        if sql not in self.answers:
            try:
                with duckdb.connect(str(self.warehouse), read_only=True) as connection:
                    self.answers[sql] = connection.execute(sql).fetchall()
            except duckdb.Error as error:  # kept for the test that asks (a model missing a column)
                self.answers[sql] = error
        answer = self.answers[sql]
        if isinstance(answer, duckdb.Error):
            raise answer
        return answer


@dataclass
class EdgeCases:
    ids: dict[str, str]  # case -> task uuid
    in_flight: Build  # PROGRESS running
    finished: Build  # everything sent has reached the state Flower keeps it in

    def where_ids(self) -> str:
        return "(" + ", ".join(f"'{task_id}'" for task_id in self.ids.values()) + ")"

    def case_of(self, task_id: str) -> str:
        return {task_id: case for case, task_id in self.ids.items()}[task_id]


def flower_state(stack: FlowerStack, task_id: str) -> str | None:
    response = stack.api_get(f"/api/task/info/{task_id}")  # 404 until Flower has seen the task
    return response.json()["state"] if response.status_code == 200 else None


def wait_for_states(stack: FlowerStack, expected: dict[str, str], timeout: float = 90) -> None:
    """Wait until Flower shows each task id in its expected state (some never leave STARTED or RETRY)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = {task_id: flower_state(stack, task_id) for task_id in expected}
        if shown == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Flower shows {shown}, expected {expected}")
        time.sleep(0.2)


def load_and_model(workdir: Path) -> Build:
    """One load of the Flower source, then the flower_marts job in process, its flower_models step (the dbt
    models of Flower's data only: the joined ones and the docs would add half a minute to each build)."""
    make_pipeline("flower").run(flower_source())
    job = deployment("flower").resolve_job_def("flower_marts")
    [flower_models] = [step for step in dbt_steps() if step.op.name == "flower_models"]
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=list(flower_models.keys),
        raise_on_error=False,
    )
    checks = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.check_name.endswith(CUSTOM_STATES_TEST)
    ]
    return Build(result.success, checks[0] if checks else None, workdir / "warehouse.duckdb", {})


@pytest.fixture(scope="module")
def edge_cases(flower_stack, tmp_path_factory) -> Iterator[EdgeCases]:
    stack = flower_stack
    workdir = tmp_path_factory.mktemp(f"edge_cases_{stack.flower_release}")
    client = stack.celery()
    release = workdir / "release-progress"
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in stack.source_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DUCKDB_PATH", str(workdir / "warehouse.duckdb"))
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_data"))
        monkeypatch.setenv("TASKLINE_DOCS_DIR", str(workdir / "docs"))
        try:
            # the two pool slots: a task reporting progress, and one terminated while it runs
            ids = {
                "progress": client.send_task("edge.progress", args=(str(release),)).id,
                "terminated": client.send_task("edge.sleeps", args=(60,)).id,
            }
            wait_for_states(stack, {ids["progress"]: "PROGRESS", ids["terminated"]: "STARTED"})
            client.control.revoke(ids["terminated"], terminate=True)
            wait_for_states(stack, {ids["terminated"]: "REVOKED"})
            in_flight = load_and_model(workdir)
            read_while_in_flight(in_flight, ids["progress"])

            release.touch()
            # a task revoked before any worker got it: only a client that sends no task-sent event (Celery's
            # default) leaves Flower without its name
            pending = f"pending-{time.time_ns()}"
            client.control.revoke(pending)
            silent_client = make_app(stack.broker_url)
            silent_client.conf.task_send_sent_event = False
            try:
                ids["pending"] = silent_client.send_task("edge.sleeps", args=(0,), task_id=pending).id
            finally:
                silent_client.close()
            ids |= {
                "hard_time_limit": client.send_task("edge.hard_time_limit").id,
                "soft_time_limit": client.send_task("edge.soft_time_limit").id,
                "killed": client.send_task("edge.killed").id,
                "exits": client.send_task("edge.exits").id,
                "rejected": client.send_task("edge.rejected").id,
                "ignored": client.send_task("edge.ignored").id,
                "retry": client.send_task("edge.retry_raised").id,
                "eta": client.send_task("edge.sleeps", args=(0,), countdown=2).id,
                "expired": client.send_task(
                    "edge.sleeps", args=(0,), expires=datetime.now(UTC) - timedelta(seconds=5)
                ).id,
            }
            final = dict.fromkeys(ids.values(), "FAILURE") | {
                ids[case]: state
                for case, state in {
                    "progress": "SUCCESS",
                    "eta": "SUCCESS",
                    "terminated": "REVOKED",
                    "pending": "REVOKED",
                    "expired": "REVOKED",
                    "ignored": "STARTED",  # the worker sends no event for Ignore
                    "retry": "RETRY",  # nothing sends it again
                }.items()
            }
            wait_for_states(stack, final)
            finished = load_and_model(workdir)
        finally:
            release.touch()
            # Flower would show the ignored and retried tasks in flight for ever: later tests wait for idle
            stack.restart_flower()
    yield EdgeCases(ids, in_flight, finished)


def progress_queries(progress: str) -> tuple[str, str, str]:
    return (
        f"select state from flower.tasks where uuid = '{progress}'",
        "select outcome, is_custom_state, is_finished, is_failure from marts.fct_task_runs "
        f"where task_id = '{progress}'",
        "select state, tasks, task_names, latest_task_ids from marts.tasks_in_custom_states",
    )


def read_while_in_flight(build: Build, progress: str) -> None:
    for query in progress_queries(progress):
        with contextlib.suppress(duckdb.Error):  # kept: raised again to the test that asks
            build.rows(query)


def test_the_marts_build_with_progress_in_flight_and_the_warn_check_names_it(edge_cases):
    build = edge_cases.in_flight
    progress = edge_cases.ids["progress"]

    raw_state, run, custom_states = progress_queries(progress)

    assert build.succeeded
    assert build.rows(raw_state) == [("PROGRESS",)]
    assert build.rows(run) == [("in_progress", True, False, False)]
    check = build.custom_state_check
    assert check is not None and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert build.rows(custom_states) == [("PROGRESS", 1, "edge.progress", progress)]
    # the check itself names the state and the tasks, as the table holds them
    shown = check.metadata["stored_failures"].value
    assert shown.splitlines()[2].startswith(f"| default | PROGRESS | 1 | edge.progress | {progress} | ")


def test_progress_loaded_again_after_it_finished(edge_cases):
    build = edge_cases.finished
    progress = edge_cases.ids["progress"]

    assert build.succeeded
    assert build.rows(
        f"select state, outcome, is_custom_state from marts.fct_task_runs where task_id = '{progress}'"
    ) == [("SUCCESS", "succeeded", False)]
    assert build.custom_state_check is not None and build.custom_state_check.passed
    assert build.rows("select count(*) from marts.tasks_in_custom_states") == [(0,)]


EXPECTED_RUNS = {
    # case: (state, outcome, exception_type, exception_class_path, exception_message, is_failure, ran_to_end)
    "hard_time_limit": (
        "FAILURE", "timed_out", "TimeLimitExceeded", "billiard.exceptions.TimeLimitExceeded", "1", True, False,
    ),
    "soft_time_limit": (
        "FAILURE", "timed_out", "SoftTimeLimitExceeded", "SoftTimeLimitExceeded", None, True, False,
    ),
    "killed": (
        "FAILURE", "lost", "WorkerLostError", "billiard.exceptions.WorkerLostError",
        "Worker exited prematurely: signal 9 (SIGKILL)", True, False,
    ),
    "exits": (
        "FAILURE", "lost", "WorkerLostError", "billiard.exceptions.WorkerLostError",
        "Worker exited prematurely: exitcode 3", True, False,
    ),
    "rejected": (
        "FAILURE", "rejected", "Reject", "celery.exceptions.Reject", "malformed payload", True, True,
    ),
    "ignored": ("STARTED", "in_progress", None, None, None, False, False),
    "retry": ("RETRY", "retried", "Retry", "celery.exceptions.Retry", "Retry at None", False, False),
    "progress": ("SUCCESS", "succeeded", None, None, None, False, True),
    "eta": ("SUCCESS", "succeeded", None, None, None, False, True),
    "terminated": ("REVOKED", "terminated", None, None, None, False, False),
    "pending": ("REVOKED", "revoked", None, None, None, False, False),
    "expired": ("REVOKED", "expired", None, None, None, False, False),
}  # fmt: skip


def test_every_edge_case_has_its_outcome_and_real_exception_class(edge_cases):
    build = edge_cases.finished
    runs = build.rows(
        "select task_id, state, outcome, exception_type, exception_class_path, exception_message, is_failure, "
        f"ran_to_end from marts.fct_task_runs where task_id in {edge_cases.where_ids()}"
    )

    assert {edge_cases.case_of(task_id): tuple(rest) for task_id, *rest in runs} == EXPECTED_RUNS
    # the raw rows stay as Flower gave them: the wrapper, the reject text, 'None'
    raw = dict(build.rows(f"select uuid, exception from flower.tasks where uuid in {edge_cases.where_ids()}"))
    assert {
        case: raw[edge_cases.ids[case]]
        for case in ("hard_time_limit", "killed", "exits", "rejected", "retry")
    } == {
        "hard_time_limit": "ExceptionWithTraceback()",
        "killed": "ExceptionWithTraceback()",
        "exits": "ExceptionWithTraceback()",
        "rejected": "reject requeue=False: malformed payload",
        "retry": "None",
    }


def test_task_names_timings_and_waits_come_from_the_right_fields(edge_cases):
    build = edge_cases.finished
    raw = {
        uuid: fields
        for uuid, *fields in build.rows(
            "select uuid, name, epoch(received), epoch(started), epoch(coalesce(failed, succeeded, revoked)), "
            f"epoch(eta), runtime from flower.tasks where uuid in {edge_cases.where_ids()}"
        )
    }
    runs = {
        task_id: fields
        for task_id, *fields in build.rows(
            "select task_id, task_name, queue_wait_s, runtime_s from marts.fct_task_runs "
            f"where task_id in {edge_cases.where_ids()}"
        )
    }

    for case, task_id in edge_cases.ids.items():
        name, received, started, finished, eta, flower_runtime = raw[task_id]
        task_name, queue_wait_s, runtime_s = runs[task_id]
        assert task_name == (name or "(unnamed)"), case
        if started is None:
            assert queue_wait_s is None, case
        else:
            # from the ETA when there is one: the countdown is no wait for a worker
            assert queue_wait_s == pytest.approx(started - max(received, eta or received), abs=1e-5), case
        if flower_runtime is not None:
            assert runtime_s == pytest.approx(flower_runtime), case
        elif started is not None and finished is not None:
            assert runtime_s == pytest.approx(finished - started, abs=1e-5), case
        else:
            assert runtime_s is None, case
    assert raw[edge_cases.ids["pending"]][0] is None  # Flower has no name for it
    eta = raw[edge_cases.ids["eta"]]
    assert eta[3] - eta[1] >= 1.5  # started after the countdown, which the queue wait leaves out
    # the 2 s countdown is left out of the wait, however long the worker then took on a loaded machine
    assert (eta[2] - eta[1]) - runs[edge_cases.ids["eta"]][1] >= 1.5
    assert runs[edge_cases.ids["terminated"]][2] > 0  # it ran until the revoke


def test_task_failure_daily_counts_what_happened(edge_cases):
    build = edge_cases.finished
    daily = build.rows(
        "select task_name, runs, failures, failure_rate, unfinished_runs, expired_runs, revoked_runs, "
        "terminated_runs, timed_out_runs, lost_runs, rejected_runs, p50_runtime_s is not null "
        "from marts.task_failure_daily where task_name like 'edge.%' or task_name = '(unnamed)' order by 1"
    )
    [(eta_runtime,)] = build.rows(
        f"select runtime_s from marts.fct_task_runs where task_id = '{edge_cases.ids['eta']}'"
    )
    [(sleeps_p50,)] = build.rows(
        "select p50_runtime_s from marts.task_failure_daily where task_name = 'edge.sleeps'"
    )

    assert daily == [
        # name, runs, failures, rate, unfinished, expired, revoked, terminated, timed out, lost, rejected, p50
        ("(unnamed)", 1, 0, 0.0, 0, 0, 1, 0, 0, 0, 0, False),
        ("edge.exits", 1, 1, 1.0, 0, 0, 0, 0, 0, 1, 0, False),
        ("edge.hard_time_limit", 1, 1, 1.0, 0, 0, 0, 0, 1, 0, 0, False),
        ("edge.ignored", 1, 0, 0.0, 1, 0, 0, 0, 0, 0, 0, False),
        ("edge.killed", 1, 1, 1.0, 0, 0, 0, 0, 0, 1, 0, False),
        ("edge.progress", 1, 0, 0.0, 0, 0, 0, 0, 0, 0, 0, True),
        ("edge.rejected", 1, 1, 1.0, 0, 0, 0, 0, 0, 0, 1, True),
        ("edge.retry_raised", 1, 0, 0.0, 1, 0, 0, 0, 0, 0, 0, False),
        ("edge.sleeps", 3, 0, 0.0, 0, 1, 0, 1, 0, 0, 0, True),
        ("edge.soft_time_limit", 1, 1, 1.0, 0, 0, 0, 0, 1, 0, 0, False),
    ]
    # the terminated run's 60 s-to-be are no runtime: only the ETA run's counts
    assert sleeps_p50 == pytest.approx(eta_runtime)


def test_signatures_and_the_alerts_inputs_name_the_real_classes(edge_cases):
    build = edge_cases.finished
    signatures = build.rows(
        "select task_name, exception_type, failures, sample_message, exception_class_paths "
        "from marts.task_failure_signatures where task_name like 'edge.%' order by 1, 2"
    )
    per_minute = build.rows(
        "select task_name, exception_type, sum(finished_runs), sum(failures) "
        "from intermediate.int_task_outcomes_per_minute where task_name like 'edge.%' "
        "and exception_type is not null group by 1, 2 order by 1, 2"
    )

    assert signatures == [
        ("edge.exits", "WorkerLostError", 1, "Worker exited prematurely: exitcode 3",
         "billiard.exceptions.WorkerLostError"),
        ("edge.hard_time_limit", "TimeLimitExceeded", 1, "1", "billiard.exceptions.TimeLimitExceeded"),
        ("edge.killed", "WorkerLostError", 1, "Worker exited prematurely: signal 9 (SIGKILL)",
         "billiard.exceptions.WorkerLostError"),
        ("edge.rejected", "Reject", 1, "malformed payload", "celery.exceptions.Reject"),
        ("edge.soft_time_limit", "SoftTimeLimitExceeded", 1, None, "SoftTimeLimitExceeded"),
    ]  # fmt: skip
    assert per_minute == [
        ("edge.exits", "WorkerLostError", 1, 1),
        ("edge.hard_time_limit", "TimeLimitExceeded", 1, 1),
        ("edge.killed", "WorkerLostError", 1, 1),
        ("edge.rejected", "Reject", 1, 1),
        ("edge.soft_time_limit", "SoftTimeLimitExceeded", 1, 1),
    ]
