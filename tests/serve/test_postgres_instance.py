"""Dagster's instance on PostgreSQL (the README's dagster.yaml, as written): `make serve` checks its database
first and says in one line which setting to fix, creates Dagster's tables once, and runs the README's
deployment over machines: a code server holding the source and warehouse settings, and `make serve` (the
webserver and the daemon) knowing only the instance, both on the instance database; a job launched over
GraphQL runs to SUCCESS with exact rows in a PostgreSQL warehouse, and no password reaches any file, log
or event.
"""

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from demo.dev import demo_source_env
from demo.sqlflow_standin import SQLFlowStandIn
from demo.stack import FlowerStack, free_port
from demo.workload import run_workload
from orchestration.runs.reaper import reap_dead_runs
from orchestration.serve.server import ServeError, child_settings, initialise_storage
from tests.fixtures.dagster_runs import started_run
from tests.fixtures.final_states import assert_every_task_once_in_its_final_state
from tests.fixtures.paths import ROOT
from tests.fixtures.postgres import PostgresWarehouse, new_warehouse
from tests.fixtures.served import NEVER, served, wait_for_status

pytestmark = pytest.mark.postgres

SERVE = [sys.executable, "-m", "orchestration.serve"]
FLOWER_SETTINGS = {"SOURCES__FLOWER__USERNAME": "ops", "SOURCES__FLOWER__PASSWORD": "not-used-here"}
DAGSTER_TABLES = {"runs", "event_logs", "jobs", "instigators", "daemon_heartbeats", "alembic_version"}


def readme_instance_settings() -> str:
    """The dagster.yaml block of the README's "Dagster's instance on PostgreSQL" section."""
    readme = (ROOT / "orchestration" / "serve" / "README.md").read_text()
    found = re.search(r"<!-- postgres-instance:dagster.yaml -->\n```yaml\n(.*?)\n```", readme, re.S)
    assert found, "README has no postgres-instance:dagster.yaml block"
    return found.group(1) + "\n"


def instance_env(database: PostgresWarehouse) -> dict[str, str]:
    """The variables the README's dagster.yaml reads, for `database`."""
    return {
        "DAGSTER_PG_HOST": database.server.host,
        "DAGSTER_PG_PORT": str(database.server.port),
        "DAGSTER_PG_DB": database.database,
        "DAGSTER_PG_USERNAME": database.user,
        "DAGSTER_PG_PASSWORD": database.password,
    }


def instance_home(path: Path) -> Path:
    path.mkdir()
    (path / "dagster.yaml").write_text(readme_instance_settings())
    return path


@pytest.fixture
def instance_database(postgres_server, tmp_path, monkeypatch) -> tuple[Path, PostgresWarehouse]:
    """A DAGSTER_HOME with the README's dagster.yaml and a fresh database for it, its variables set."""
    database = new_warehouse(postgres_server, "dagster")
    for name, value in instance_env(database).items():
        monkeypatch.setenv(name, value)
    return instance_home(tmp_path / "dagster_home"), database


def tables(database: PostgresWarehouse) -> set[str]:
    return {name for (name,) in database.query("select tablename from pg_tables where schemaname = 'public'")}


def test_serve_creates_the_instance_tables_in_postgres_and_nothing_in_sqlite(instance_database):
    home, database = instance_database

    kept_in = initialise_storage(home)

    server = database.server
    assert (
        kept_in == f"PostgreSQL postgresql://{database.user}@{server.host}:{server.port}/{database.database}"
    )
    assert tables(database) >= DAGSTER_TABLES
    assert initialise_storage(home) == kept_in  # every later start finds them
    assert sorted(path.name for path in home.rglob("*.db")) == []


WRONG_PASSWORD = "Wr0ng-instance-pw"


@pytest.mark.parametrize(
    "variable,value,reason,fix",
    [
        ("DAGSTER_PG_PASSWORD", WRONG_PASSWORD, 'password authentication failed for user "{user}"',
         "DAGSTER_PG_PASSWORD or DAGSTER_PG_USERNAME"),
        ("DAGSTER_PG_PORT", "{free_port}", "Connection refused", "DAGSTER_PG_HOST or DAGSTER_PG_PORT"),
        ("DAGSTER_PG_DB", "no_such_dagster", 'database "no_such_dagster" does not exist', "DAGSTER_PG_DB"),
    ],
)  # fmt: skip
def test_an_instance_database_it_cannot_use_is_one_line_naming_the_variable(
    variable, value, reason, fix, instance_database, monkeypatch
):
    home, database = instance_database
    monkeypatch.setenv(variable, value.format(free_port=free_port()))

    with pytest.raises(ServeError) as error:
        initialise_storage(home)

    assert_unusable(str(error.value), home, reason.format(user=database.user), fix)
    assert tables(database) == set()


def test_a_user_who_may_not_create_dagster_tables_is_one_line(instance_database, monkeypatch):
    home, database = instance_database
    reader = f"{database.database}_reader"
    database.server.execute(
        f"create role {reader} login password 'reader-pw-123'",
        f"grant connect on database {database.database} to {reader}",
    )
    monkeypatch.setenv("DAGSTER_PG_USERNAME", reader)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "reader-pw-123")

    with pytest.raises(ServeError) as error:
        initialise_storage(home)

    assert_unusable(str(error.value), home, "permission denied for schema public", "DAGSTER_PG_USERNAME")


def assert_unusable(message: str, home: Path, reason: str, fix: str) -> None:
    """The one line for an instance database serve cannot use: where (no password), why, what to fix."""
    where = (
        f"{os.environ['DAGSTER_PG_USERNAME']}@{os.environ['DAGSTER_PG_HOST']}:{os.environ['DAGSTER_PG_PORT']}/"
        f"{os.environ['DAGSTER_PG_DB']}"
    )
    assert message.startswith(f"Dagster's instance database postgresql://{where} cannot be used: {reason}")
    assert message.endswith(f". Fix {fix} (storage.postgres in {home / 'dagster.yaml'}).")
    assert "\n" not in message and os.environ["DAGSTER_PG_PASSWORD"] not in message


def test_an_unset_instance_variable_is_named(instance_database, monkeypatch):
    home, _ = instance_database
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")

    with pytest.raises(ServeError) as error:
        initialise_storage(home)

    assert str(error.value) == (
        f"Dagster's instance database (storage.postgres.postgres_db.password in {home / 'dagster.yaml'}) reads "
        "DAGSTER_PG_PASSWORD, which is not set: set it in the environment of every process that uses the "
        "instance (the webserver, the daemon, the code server and its run workers)."
    )


def test_a_url_whose_driver_is_not_installed_says_which_scheme_to_set(instance_database):
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3: without the README's `scheme` line, dagster's
    processes would fail on an import error."""
    home, database = instance_database
    settings = (home / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(re.sub(r"\n *scheme: .*", "", settings))

    with pytest.raises(ServeError) as error:
        initialise_storage(home)

    where = f"{database.user}@{database.server.host}:{database.server.port}/{database.database}"
    assert str(error.value) == (
        f"Dagster's instance database postgresql://{where} cannot be used: SQLAlchemy connects to postgresql:// "
        "with the psycopg driver, which is not installed. Set `scheme: postgresql+psycopg2` under "
        "storage.postgres.postgres_db (or begin postgres_url with postgresql+psycopg2://) in "
        f"{home / 'dagster.yaml'}."
    )


def test_the_command_stops_on_a_wrong_instance_password_with_one_line(instance_database, monkeypatch):
    home, database = instance_database
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", WRONG_PASSWORD)
    env = {**os.environ, **FLOWER_SETTINGS, "DAGSTER_HOME": str(home)}

    completed = subprocess.run(
        [*SERVE, "--port", str(free_port())], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert completed.returncode == 1
    assert completed.stderr.startswith("taskline serve: ") and completed.stderr.count("\n") == 1
    assert_unusable(
        completed.stderr.removeprefix("taskline serve: ").strip(),
        home,
        f'password authentication failed for user "{database.user}"',
        "DAGSTER_PG_PASSWORD or DAGSTER_PG_USERNAME",
    )
    assert database.password not in completed.stdout + completed.stderr


def test_the_dead_run_reaper_leaves_runs_kept_in_postgres_alone(instance_database):
    """Their workers may run on other machines: a pid here says nothing about them (run monitoring judges)."""
    home, _ = instance_database
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = started_run(instance, gone.pid, time.time())

        assert reap_dead_runs(instance, logging.getLogger("test_postgres_instance")) == []
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED


# ---- the deployment over machines -------------------------------------------------------------------------


class code_server:
    """`dagster code-server start` as the README shows it, until the block ends."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log, self.port = env, log, free_port()

    def __enter__(self) -> int:
        command = [str(Path(sys.executable).with_name("dagster")), "code-server", "start",
                   "-m", "orchestration.definitions", "--location-name", "taskline",
                   "-h", "127.0.0.1", "-p", str(self.port)]  # fmt: skip
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=child_settings,
            )
        deadline = time.monotonic() + 240
        while not port_open(self.port):
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()[-4000:]
            time.sleep(0.5)
        return self.port

    def __exit__(self, *exc_info) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_serve_on_a_postgres_instance_runs_a_job_on_a_code_server_elsewhere(postgres_server, tmp_path):
    """The control machine (make serve: webserver + daemon) has only DAGSTER_HOME and the instance's
    variables; the code server has the sources, the warehouse and the instance's variables, no DAGSTER_HOME."""
    instance = new_warehouse(postgres_server, "dagster")
    warehouse = new_warehouse(postgres_server)
    control_home = instance_home(tmp_path / "control_home")
    without_settings = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SOURCES__", "DESTINATION__", "TASKLINE_", "DAGSTER_", "DUCKDB_PATH"))
    }
    with FlowerStack(tmp_path / "flower") as flower, SQLFlowStandIn() as sqlflow:
        run_workload(flower)
        worker_env = {
            **without_settings,
            **instance_env(instance),
            **demo_source_env(flower, sqlflow),
            "TASKLINE_WAREHOUSE": "postgres",
            "DESTINATION__POSTGRES__CREDENTIALS": warehouse.url,
            "DUCKDB_PATH": str(tmp_path / "worker" / "warehouse.duckdb"),  # where dlt keeps its working state
            "TASKLINE_DOCS_DIR": str(tmp_path / "worker" / "docs"),
            "TASKLINE_FLOWER_CAPTURE_SCHEDULE": NEVER,
            "TASKLINE_FLOWER_MARTS_SCHEDULE": NEVER,
            "TASKLINE_SQLFLOW_SCHEDULE": NEVER,
        }
        with code_server(worker_env, tmp_path / "code_server.log") as port:
            workspace = tmp_path / "control.yaml"
            workspace.write_text(
                f"load_from: [{{grpc_server: {{host: 127.0.0.1, port: {port}, location_name: taskline}}}}]\n"
            )
            control_env = {
                **without_settings,
                **instance_env(instance),
                "DAGSTER_HOME": str(control_home),
                "TASKLINE_WORKSPACE": str(workspace),
                "TASKLINE_ALLOW_ROOT": "1",  # CI runs as root
            }
            with served(control_env, tmp_path / "serve.log") as server:
                from dagster_graphql import DagsterGraphQLClient

                client = DagsterGraphQLClient("127.0.0.1", port_number=server.port)
                run_id = client.submit_job_execution("flower_load", "taskline", "__repository__")
                status = wait_for_status(client, run_id)
                daemons = {name for (name,) in instance.query("select daemon_type from daemon_heartbeats")}
        assert status == "SUCCESS", (tmp_path / "serve.log").read_text()[-4000:]
        assert_every_task_once_in_its_final_state(warehouse, flower, at_least=30)
    serve_log = (tmp_path / "serve.log").read_text()
    assert "runs, events and schedules in PostgreSQL postgresql://" in serve_log
    # the run, its events and the daemon's heartbeats are in the instance database; no sqlite anywhere
    assert instance.query(f"select status from runs where run_id = '{run_id}'") == [("SUCCESS",)]
    events = [event for (event,) in instance.query(f"select event from event_logs where run_id = '{run_id}'")]
    assert any('"ASSET_MATERIALIZATION"' in event for event in events)
    assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"} <= daemons
    assert sorted(path.name for path in tmp_path.rglob("*.db")) == []
    # the run wrote its steps' stdout/stderr on its own machine, under the control machine's DAGSTER_HOME path
    assert list((control_home / "storage" / run_id / "compute_logs").glob("*.out"))
    # no password in the instance's files, the logs of both machines or any event
    written = [path.read_bytes() for path in control_home.rglob("*") if path.is_file()]
    written += [serve_log.encode(), (tmp_path / "code_server.log").read_bytes(), "".join(events).encode()]
    for password in (instance.password, warehouse.password, postgres_server.password):
        assert not [text for text in written if password.encode() in text]
