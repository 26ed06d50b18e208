"""The Dagster jobs on a PostgreSQL warehouse: loads of both sources at once, and bad warehouse settings.

Flower answers over real HTTP (pytest-httpserver, recorded bodies and the demo-shop tasks of
tests/fixtures/demo_tasks.py), SQLFlow is the stand-in, PostgreSQL a throw-away server (tests/fixtures/postgres.py).
"""

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from demo.sqlflow_standin import DEMO_USER_ID, DEMO_USERS, SQLFlowStandIn
from orchestration.serve.server import initialise_storage
from tests.fixtures.dagster_cli import launch
from tests.fixtures.demo_lineage import EXPECTED_TABLE_EDGES
from tests.fixtures.demo_tasks import TASKS
from tests.fixtures.deployments import deployment
from tests.fixtures.marts_sources import FLOWER_TASKS, recorded_body, serve_flower
from tests.fixtures.postgres import PostgresWarehouse, new_warehouse

pytestmark = pytest.mark.postgres

SQLFLOW_WAIT_S = 180.0


class TasksListedOnceSQLFlowLoads(dict):
    """Flower's tasks, listed only once the SQLFlow load has started (the stand-in issued a token), or after
    SQLFLOW_WAIT_S: a Flower load that gets them at once ran while the SQLFlow load ran."""

    def __init__(self, tasks: dict, sqlflow: SQLFlowStandIn):
        super().__init__(tasks)
        self.sqlflow = sqlflow
        self.sqlflow_loading_meanwhile: bool | None = None
        self._lock = threading.Lock()

    def values(self):
        with self._lock:
            if self.sqlflow_loading_meanwhile is None:
                deadline = time.monotonic() + SQLFLOW_WAIT_S
                while self.sqlflow.tokens_issued == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)
                self.sqlflow_loading_meanwhile = self.sqlflow.tokens_issued > 0
        return super().values()


def source_env(flower: HTTPServer, sqlflow: SQLFlowStandIn) -> dict[str, str]:
    return {
        "SOURCES__FLOWER__BASE_URL": flower.url_for("/").rstrip("/"),
        "SOURCES__FLOWER__USERNAME": "taskline",
        "SOURCES__FLOWER__PASSWORD": "taskline-demo",
        "SOURCES__SQLFLOW__BASE_URL": sqlflow.base_url,
        "SOURCES__SQLFLOW__USER_ID": DEMO_USER_ID,
        "SOURCES__SQLFLOW__SECRET_KEY": DEMO_USERS[DEMO_USER_ID],
        "SOURCES__SQLFLOW__SQL_PATHS": json.dumps(["demo/sql/*.sql"]),
    }


def test_flower_and_sqlflow_loads_run_at_the_same_time_and_both_are_exact(
    postgres_warehouse: PostgresWarehouse, tmp_path
):
    """Both jobs launched together, each in its own `dagster job execute` process: the Flower load is still
    extracting when the SQLFlow load starts (on DuckDB it would wait for the writer lock), their dbt builds
    take turns, and the marts hold every row."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    # two processes creating a new instance's sqlite tables at once collide; make serve does this too
    initialise_storage(dagster_home)
    tasks = {**recorded_body("api_tasks_all_trimmed.json"), **{row["uuid"]: row for row in TASKS}}
    with HTTPServer() as flower, SQLFlowStandIn() as sqlflow:
        listing = TasksListedOnceSQLFlowLoads(tasks, sqlflow)
        serve_flower(flower, celery_messages=1, online=True, tasks=listing)
        env = {
            **os.environ,
            **source_env(flower, sqlflow),
            "DAGSTER_HOME": str(dagster_home),
            # Flower holds its answer until the SQLFlow load starts: no retry meanwhile
            "SOURCES__FLOWER__REQUEST_TIMEOUT": str(SQLFLOW_WAIT_S + 60),
        }
        jobs = {job: launch(job, env) for job in ("flower_load", "sqlflow_load")}
        outputs = {job: process.communicate(timeout=600)[0] for job, process in jobs.items()}
    for job, process in jobs.items():
        assert process.returncode == 0, outputs[job][-4000:]
    assert listing.sqlflow_loading_meanwhile is True
    assert postgres_warehouse.query("select count(*), count(distinct uuid) from flower.tasks") == [
        (FLOWER_TASKS, FLOWER_TASKS)
    ]
    assert postgres_warehouse.query("select count(*) from marts.fct_task_runs") == [(FLOWER_TASKS,)]
    edges = postgres_warehouse.query(
        "select distinct source_table, target_table from marts.lineage_table_edges order by 1, 2"
    )
    assert edges == EXPECTED_TABLE_EDGES
    # each dbt build of one run waited for the other's when they met, and said for whom
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert sorted(run.job_name for run in runs) == ["flower_load", "sqlflow_load"]
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}


# ---- bad warehouse settings -------------------------------------------------------------------------------


@contextmanager
def answering_sources() -> Iterator[dict[str, str]]:
    """Flower and SQLFlow answering; the environment that points at them."""
    tasks = {**recorded_body("api_tasks_all_trimmed.json"), **{row["uuid"]: row for row in TASKS}}
    with HTTPServer() as flower, SQLFlowStandIn() as sqlflow:
        serve_flower(flower, celery_messages=1, online=True, tasks=tasks)
        yield source_env(flower, sqlflow)


@pytest.fixture
def sources(monkeypatch):
    """Flower and SQLFlow answering, configured through the environment."""
    with answering_sources() as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def loaded_warehouse(postgres_server, tmp_path_factory) -> PostgresWarehouse:
    """A PostgreSQL warehouse one good flower_load filled, shared by the bad-settings tests: each breaks a load
    of its own on it, and every row must still be there."""
    warehouse = new_warehouse(postgres_server)
    workdir = tmp_path_factory.mktemp("loaded_postgres")
    with pytest.MonkeyPatch.context() as monkeypatch, answering_sources() as env:
        for name, value in {
            **env,
            "TASKLINE_WAREHOUSE": "postgres",
            "DESTINATION__POSTGRES__CREDENTIALS": warehouse.url,
            "DUCKDB_PATH": str(workdir / "warehouse.duckdb"),  # where the dlt working dirs go
            "DLT_DATA_DIR": str(workdir / "dlt_data"),
        }.items():
            monkeypatch.setenv(name, value)
        result = (
            deployment("flower")
            .resolve_job_def("flower_load")
            .execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        )
        assert result.success
    return warehouse


def run_flower_load(capfd) -> tuple[dg.ExecuteInProcessResult, str]:
    """flower_load in this process; the result and everything written to the terminal or the event log."""
    instance = dg.DagsterInstance.ephemeral()
    result = (
        deployment("flower")
        .resolve_job_def("flower_load")
        .execute_in_process(instance=instance, raise_on_error=False)
    )
    captured = capfd.readouterr()
    events = "".join(str(entry) for entry in instance.all_logs(result.run_id))
    return result, captured.out + captured.err + events


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """What each failed step told the user, once per distinct text (every step that could start says it)."""
    return sorted(
        {
            event.step_failure_data.user_failure_data.description
            for event in result.all_events
            if event.is_step_failure
        }
    )


def break_a_load(loaded_warehouse, monkeypatch, capfd, credentials: str) -> tuple[list[str], str]:
    """A flower_load with `credentials` after the good one: its failure messages and all it wrote; the rows of
    the good load must all still be there."""
    monkeypatch.setenv("TASKLINE_WAREHOUSE", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", credentials)
    broken, written = run_flower_load(capfd)
    assert not broken.success
    assert loaded_warehouse.query("select count(*) from flower.tasks") == [(FLOWER_TASKS,)]
    assert loaded_warehouse.query("select count(*) from marts.fct_task_runs") == [(FLOWER_TASKS,)]
    return failure_messages(broken), written


def assert_one_clear_sentence(messages: list[str], where: str, reason: str) -> None:
    """Every failed step says the same: where, why and which setting (no traceback, no other text)."""
    assert len(messages) == 1, messages
    assert messages[0].strip() == (
        f"PostgreSQL warehouse {where} cannot be used: {reason}. Fix DESTINATION__POSTGRES__CREDENTIALS "
        "(postgresql://user:password@host:port/database, or the credentials under [destination.postgres] "
        "in .dlt/secrets.toml)."
    )


def test_a_wrong_password_is_one_clear_message_and_no_password_anywhere(
    loaded_warehouse, sources, monkeypatch, capfd
):
    wrong = "Wr0ng-pa55word-xyz"
    server = loaded_warehouse.server
    messages, written = break_a_load(
        loaded_warehouse,
        monkeypatch,
        capfd,
        server.url(loaded_warehouse.user, wrong, loaded_warehouse.database),
    )
    where = f"postgresql://{loaded_warehouse.user}@{server.host}:{server.port}/{loaded_warehouse.database}"
    assert_one_clear_sentence(
        messages, where, f'password authentication failed for user "{loaded_warehouse.user}"'
    )
    for secret in (wrong, loaded_warehouse.password, server.password):
        assert secret not in written


def test_a_server_that_is_down_is_one_clear_message(loaded_warehouse, sources, monkeypatch, capfd):
    from tests.fixtures.postgres import free_port

    port = free_port()
    down = f"postgresql://{loaded_warehouse.user}:{loaded_warehouse.password}@127.0.0.1:{port}/db"
    messages, written = break_a_load(loaded_warehouse, monkeypatch, capfd, down)
    assert len(messages) == 1
    assert messages[0].startswith(
        f"PostgreSQL warehouse postgresql://{loaded_warehouse.user}@127.0.0.1:{port}/db cannot be used: "
        "Connection refused"
    )
    assert messages[0].endswith("Fix DESTINATION__POSTGRES__CREDENTIALS (postgresql://user:password@host:port/"
                                "database, or the credentials under [destination.postgres] in .dlt/secrets.toml).")  # fmt: skip
    assert loaded_warehouse.password not in written


def test_a_database_that_does_not_exist_is_one_clear_message(loaded_warehouse, sources, monkeypatch, capfd):
    server = loaded_warehouse.server
    missing = server.url(loaded_warehouse.user, loaded_warehouse.password, "no_such_warehouse")
    messages, written = break_a_load(loaded_warehouse, monkeypatch, capfd, missing)
    where = f"postgresql://{loaded_warehouse.user}@{server.host}:{server.port}/no_such_warehouse"
    assert_one_clear_sentence(messages, where, 'database "no_such_warehouse" does not exist')
    assert loaded_warehouse.password not in written


def test_a_user_without_create_rights_is_one_clear_message(loaded_warehouse, sources, monkeypatch, capfd):
    server = loaded_warehouse.server
    reader = f"{loaded_warehouse.database}_reader"
    server.execute(
        f"create role {reader} login password 'reader-pw-123'",
        f"grant connect on database {loaded_warehouse.database} to {reader}",
    )
    messages, written = break_a_load(
        loaded_warehouse,
        monkeypatch,
        capfd,
        server.url(reader, "reader-pw-123", loaded_warehouse.database),
    )
    where = f"postgresql://{reader}@{server.host}:{server.port}/{loaded_warehouse.database}"
    grant = f"GRANT CREATE ON DATABASE {loaded_warehouse.database} TO {reader}"
    # the load and the dbt step that does not wait for it, each with the schemas it writes
    for schemas, message in zip(
        ["flower, flower_staging", "intermediate, marts, seeds, staging"], messages, strict=True
    ):
        assert_one_clear_sentence(
            [message],
            where,
            f"user {reader} may not create tables in schema {schemas} (no CREATE privilege: grant it with "
            f"{grant}, or name a user that has it)",
        )
    assert "reader-pw-123" not in written and loaded_warehouse.password not in written


def test_postgres_chosen_without_a_connection_names_the_setting(sources, monkeypatch, capfd):
    monkeypatch.setenv("TASKLINE_WAREHOUSE", "postgres")
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    result, _ = run_flower_load(capfd)
    assert failure_messages(result) == [
        "TASKLINE_WAREHOUSE=postgres but the PostgreSQL warehouse has no connection: set "
        "DESTINATION__POSTGRES__CREDENTIALS (postgresql://user:password@host:port/database, or the "
        "credentials under [destination.postgres] in .dlt/secrets.toml)."
    ]
