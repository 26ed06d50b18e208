"""`make serve`: DAGSTER_HOME and its dagster.yaml, clear stops for what the user must fix, clean shutdown."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from demo.stack import free_port
from orchestration.serve.server import (
    TASKLINE_INSTANCE_SETTINGS,
    ServeError,
    dagster_home,
    ensure_instance_settings,
    ensure_port_free,
    serve,
)
from tests.fixtures.paths import ROOT

SERVE = [sys.executable, "-m", "orchestration.serve"]
# a configured source (serve checks settings before anything else; it does not call Flower at start)
FLOWER_SETTINGS = {"SOURCES__FLOWER__USERNAME": "ops", "SOURCES__FLOWER__PASSWORD": "not-used-here"}
TASKLINE_SETTINGS = yaml.safe_load(TASKLINE_INSTANCE_SETTINGS.read_text())


def test_a_new_dagster_home_gets_taskline_settings(tmp_path):
    home = dagster_home({"DAGSTER_HOME": str(tmp_path / "new" / "home")})

    added = ensure_instance_settings(home)

    assert home == (tmp_path / "new" / "home").resolve()
    assert added == list(TASKLINE_SETTINGS)
    assert (home / "dagster.yaml").read_text() == TASKLINE_INSTANCE_SETTINGS.read_text()


def test_an_existing_dagster_yaml_keeps_every_line_and_gains_only_what_is_missing(tmp_path):
    own = "# our instance\nrun_retries:\n  enabled: true  # retry failed runs\n"
    (tmp_path / "dagster.yaml").write_text(own)

    added = ensure_instance_settings(tmp_path)

    text = (tmp_path / "dagster.yaml").read_text()
    assert text.startswith(own)
    assert added == list(TASKLINE_SETTINGS)
    assert yaml.safe_load(text) == {"run_retries": {"enabled": True}, **TASKLINE_SETTINGS}
    assert ensure_instance_settings(tmp_path) == []  # a second start adds nothing
    assert (tmp_path / "dagster.yaml").read_text() == text


def test_a_setting_taskline_needs_set_otherwise_stops_with_what_to_set(tmp_path):
    key, value = next(iter(TASKLINE_SETTINGS.items()))
    other = {"different": True} if isinstance(value, dict) else "different"
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({key: other}))
    before = (tmp_path / "dagster.yaml").read_text()

    with pytest.raises(ServeError) as error:
        ensure_instance_settings(tmp_path)

    assert str(tmp_path / "dagster.yaml") in str(error.value)
    assert "Set, under the keys shown:" in str(error.value)
    assert (tmp_path / "dagster.yaml").read_text() == before  # never overwritten


def test_a_dagster_home_that_is_a_file_is_a_clear_stop(tmp_path):
    (tmp_path / "home").write_text("")

    with pytest.raises(ServeError, match=r"DAGSTER_HOME=.*/home is a file, not a directory"):
        dagster_home({"DAGSTER_HOME": str(tmp_path / "home")})


def test_a_port_left_in_time_wait_by_a_stopped_server_is_free_again():
    """A server that stopped after answering leaves its closed connections in TIME-WAIT for a minute: a restart
    on the same port must not be refused for them."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx and the webserver listen
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server closes first: its side waits in TIME-WAIT
            client.recv(1)
    ensure_port_free("127.0.0.1", port)


def test_a_new_dagster_home_and_an_open_one_are_their_owners_alone(tmp_path):
    new = dagster_home({"DAGSTER_HOME": str(tmp_path / "new")})
    (tmp_path / "old" / "history").mkdir(parents=True, mode=0o755)
    (tmp_path / "old" / "history" / "runs.db").write_text("")
    (tmp_path / "old" / "history" / "runs.db").chmod(0o644)

    old = dagster_home({"DAGSTER_HOME": str(tmp_path / "old")})

    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (old, *old.rglob("*"))}
    assert modes == {"old": 0o700, "history": 0o700, "runs.db": 0o600}


def test_a_port_in_use_is_a_clear_stop():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"cannot serve on 127.0.0.1:{port} .*TASKLINE_PORT"):
            ensure_port_free("127.0.0.1", port)


@pytest.mark.parametrize(
    "problem,settings,message",
    [
        ("SQLFlow secret key missing", {"SOURCES__SQLFLOW__USER_ID": "auth0|me"}, "SQLFlow is configured "),
        ("no source at all", {}, "neither Flower nor SQLFlow is configured"),
    ],
)
def test_a_source_configured_in_part_or_none_at_all_stops_before_anything_starts(
    problem, settings, message, tmp_path
):
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")},
        **settings,
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    completed = subprocess.run(
        [*SERVE, "--port", str(free_port())], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert completed.returncode == 1
    assert completed.stderr.startswith("taskline serve: " + message)
    assert "Traceback" not in completed.stdout + completed.stderr
    assert not (tmp_path / "home").exists()  # nothing created before the settings are right


def test_a_workspace_that_is_not_a_file_is_a_clear_stop(tmp_path):
    with pytest.raises(ServeError) as error:
        serve("127.0.0.1", free_port(), {"DAGSTER_HOME": str(tmp_path / "home")}, tmp_path / "control.yaml")

    assert str(error.value) == (
        f"the workspace {tmp_path / 'control.yaml'} (--workspace or TASKLINE_WORKSPACE) is not a file: name a "
        "workspace.yaml."
    )
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("problem", ["port in use", "DAGSTER_HOME is a file"])
def test_the_command_stops_with_one_line_and_no_traceback(problem, tmp_path):
    env = {**os.environ, **FLOWER_SETTINGS, "DAGSTER_HOME": str(tmp_path / "home")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1] if problem == "port in use" else free_port()
        if problem == "DAGSTER_HOME is a file":
            (tmp_path / "home").write_text("")
        completed = subprocess.run(
            [*SERVE, "--port", str(port)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1
    assert completed.stderr.startswith("taskline serve: ")
    assert "Traceback" not in completed.stdout + completed.stderr


def ignores_sigterm(pid: int) -> bool:
    """Whether the process ignores SIGTERM (bit 15 - 1 of SigIgn in /proc/<pid>/status)."""
    [ignored] = [
        line.split()[1]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("SigIgn:")
    ]
    return bool(int(ignored, 16) & 1 << (signal.SIGTERM - 1))


def resource_tracker(pid: int) -> bool:
    return b"multiprocessing.resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()


def processes_with_home(home: Path) -> list[int]:
    """Live processes whose environment carries DAGSTER_HOME=home (the webserver, daemon, code servers)."""
    marker = f"DAGSTER_HOME={home}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.integration
def test_serve_starts_webserver_and_daemon_and_sigterm_stops_everything(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, **FLOWER_SETTINGS, "DAGSTER_HOME": str(home)}
    server = subprocess.Popen(
        [*SERVE, "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `nohup make serve &` starts it
    )
    try:
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "taskline is up" in line:
                break
        assert f"Dagster UI on http://127.0.0.1:{port}" in lines[-1], "".join(lines[-30:])
        assert len(processes_with_home(home)) >= 3  # webserver, daemon and their code servers
        # started as a background job: still each of them stops on SIGTERM (multiprocessing's resource tracker
        # ignores it by design and ends with its parent)
        assert [
            pid for pid in processes_with_home(home) if ignores_sigterm(pid) and not resource_tracker(pid)
        ] == []

        server.send_signal(signal.SIGTERM)
        server.stdout.read()
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
    deadline = time.monotonic() + 10
    while processes_with_home(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_with_home(home) == []
