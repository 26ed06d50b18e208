"""`make serve`: the Dagster UI and the daemon (schedules, sensors, queued runs) on your own configuration.

    python -m orchestration.serve [--host HOST] [--port PORT] [--workspace FILE]

No demo stack: Flower and SQLFlow come from .dlt/ and SOURCES__* as for every run. Dagster keeps runs, event
logs and schedule state in DAGSTER_HOME (default .dagster_home/ in the project), or in the PostgreSQL database
its dagster.yaml names (checked before anything starts); that file is yours: the settings taskline needs are
added when missing, never overwritten. With --workspace (TASKLINE_WORKSPACE) naming code servers on other
machines, the runs execute there and the sources are theirs.

With TASKLINE_PASSWORD_FILE set, nginx (orchestration/proxy.py) asks for a login in front of the webserver,
which then listens on a loopback port only; beyond loopback serving without one is refused (opt-out
TASKLINE_ALLOW_NO_LOGIN=1). Ctrl-C or SIGTERM stops every process and everything they started.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import requests
import yaml

from orchestration.channels import SLACK_WEBHOOK_URL, WEBHOOK_URL, NotifyError, configured_channels
from orchestration.instance_storage import (
    InstanceStorageError,
    check_postgres_storage,
    database_problem,
    postgres_storage,
)
from orchestration.locations import DOCS_DIR
from orchestration.proxy import (
    NO_LOGIN,
    PASSWORD_FILE,
    TLS_CERT,
    TLS_KEY,
    Login,
    ProxyError,
    free_loopback_port,
    is_loopback,
    listen_address,
    login_settings,
    nginx_command,
    nginx_config,
    write_config,
)
from orchestration.warehouse import connection_problem

ROOT = Path(__file__).resolve().parent.parent
TASKLINE_INSTANCE_SETTINGS = ROOT / "orchestration" / "dagster.yaml"
DEFAULT_DAGSTER_HOME = ROOT / ".dagster_home"
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0


class ServeError(Exception):
    """Something the user must fix before the server can start; the message says what."""


def dagster_home(environ: dict[str, str]) -> Path:
    """DAGSTER_HOME (default .dagster_home/ in the project), created when missing, as an absolute path."""
    given = environ.get("DAGSTER_HOME")
    home = Path(given).expanduser().resolve() if given else DEFAULT_DAGSTER_HOME
    setting = f"DAGSTER_HOME={given}" if given else f"the default DAGSTER_HOME {home}"
    if home.exists() and not home.is_dir():
        raise ServeError(f"{setting} is a file, not a directory: point DAGSTER_HOME at a directory.")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ServeError(
            f"cannot create {setting} ({error.strerror}): choose a writable directory."
        ) from None
    if not os.access(home, os.W_OK):
        raise ServeError(f"{setting} is not writable by this user: choose a writable directory.")
    return home


def missing_and_conflicting(required: Any, existing: Any, path: str = "") -> tuple[dict, list[str]]:
    """The required settings absent from `existing` (as a nested dict) and those set to something else."""
    if not isinstance(required, dict) or not isinstance(existing, dict):
        return ({}, []) if required == existing else ({}, [f"{path}: {yaml.safe_dump(required).strip()}"])
    missing, conflicts = {}, []
    for key, value in required.items():
        here = f"{path}.{key}" if path else key
        if key not in existing:
            missing[key] = value
            continue
        nested_missing, nested_conflicts = missing_and_conflicting(value, existing[key], here)
        if nested_missing:
            missing[key] = nested_missing
        conflicts.extend(nested_conflicts)
    return missing, conflicts


def ensure_instance_settings(home: Path) -> list[str]:
    """Make DAGSTER_HOME/dagster.yaml carry what taskline needs; returns the top-level keys it added.

    A missing file is created from orchestration/dagster.yaml. An existing one is only appended to (your
    text and comments stay) with top-level sections it lacks; anything else it lacks or sets differently
    stops the start with a message saying what to put where.
    """
    target = home / "dagster.yaml"
    required_text = TASKLINE_INSTANCE_SETTINGS.read_text()
    if not target.exists():
        target.write_text(required_text)
        return list(yaml.safe_load(required_text))
    try:
        existing = yaml.safe_load(target.read_text()) or {}
    except yaml.YAMLError as error:
        raise ServeError(f"{target} is not valid YAML ({error.problem}): fix or remove it.") from None
    missing, conflicts = missing_and_conflicting(yaml.safe_load(required_text), existing)
    nested = {key: value for key, value in missing.items() if key in existing}
    if conflicts or nested:
        wanted = [*conflicts, *(yaml.safe_dump({key: value}).strip() for key, value in nested.items())]
        raise ServeError(
            f"{target} sets instance settings taskline needs differently (or only in part). Set, under the "
            "keys shown:\n  "
            + "\n  ".join(wanted)
            + f"\n(taskline's settings and why: {TASKLINE_INSTANCE_SETTINGS})"
        )
    appended = {key: value for key, value in missing.items() if key not in existing}
    if appended:
        with target.open("a") as file:
            file.write(
                "\n# added by taskline (make serve): settings it needs, see orchestration/dagster.yaml\n"
            )
            file.write(yaml.safe_dump(appended, sort_keys=False))
    return list(appended)


def initialise_storage(home: Path) -> str:
    """Create the instance's storage once, before the webserver and the daemon race to create it (a concurrent
    first start leaves sqlite's alembic with two heads; on PostgreSQL both create the same tables), after
    checking that a PostgreSQL instance database answers. Returns where the instance keeps its runs."""
    from dagster import DagsterInstance

    storage = postgres_storage(home)
    try:
        if storage is not None:
            check_postgres_storage(storage)
        with DagsterInstance.from_config(str(home)) as instance:
            instance.get_runs(limit=1)
            instance.all_instigator_state()
            instance.event_log_storage.get_latest_materialization_events([])
    except InstanceStorageError as error:
        raise ServeError(str(error)) from None
    except Exception as error:
        refused = database_problem(error) if storage is not None else None
        if refused is None:
            raise
        raise ServeError(str(storage.unusable(connection_problem(refused)))) from None
    return f"PostgreSQL {storage.describe()}" if storage is not None else f"sqlite under {home}"


def ensure_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ServeError(
                f"cannot serve on {host}:{port} ({error.strerror}): another process uses that port. Choose "
                "another with --port or TASKLINE_PORT, or stop that process."
            ) from None


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A child in its own process group, so stopping it also stops the code servers it spawns."""
    return subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True, preexec_fn=default_stop_signals)


def default_stop_signals() -> None:
    """SIGINT and SIGTERM as a terminal gives them. A shell's background job (`nohup make serve &` in a
    script) inherits SIGINT ignored, and Dagster's processes map SIGTERM to whatever SIGINT does: they would
    ignore the SIGTERM that stops them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM every process group, then SIGKILL what is left after STOP_TIMEOUT_S."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        _signal_group(process, signal.SIGKILL)  # stragglers of the group (code servers) too
        process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def wait_until(ready: Callable[[], bool], processes: list[subprocess.Popen], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready():
        for process in processes:
            if process.poll() is not None:
                raise ServeError(f"{process.args[0]} exited with code {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise ServeError(f"{what} did not answer within {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.5)


def answers(url: str, any_status: bool = False) -> bool:
    try:
        response = requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return any_status or response.ok


def accepts(host: str, port: int) -> bool:
    with suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


@contextmanager
def stopped_on_signals() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks stop the children."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_sources() -> None:
    """Stop before starting anything when a source is configured only in part; say which sources run."""
    from orchestration.configured import configured_sources

    sources = configured_sources(announce=False).values()
    problems = [problem for source in sources if (problem := source.problem())]
    if problems:
        raise ServeError("\n".join(problems))
    if not any(source.configured for source in sources):
        raise ServeError(
            "neither Flower nor SQLFlow is configured: set SOURCES__FLOWER__USERNAME/PASSWORD (or TOKEN) and/or "
            "SOURCES__SQLFLOW__USER_ID/SECRET_KEY, or fill .dlt/secrets.toml (see .dlt/secrets.toml.example)."
        )
    print(
        "Sources: " + ", ".join(f"{s.label} {'configured' if s.configured else 'left out'}" for s in sources)
    )


def check_channels(environ: dict[str, str]) -> None:
    """Where the notifier sends alerts: a malformed webhook URL stops here, named by its setting."""
    try:
        channels = configured_channels(environ)
    except NotifyError as error:
        raise ServeError(str(error)) from None
    names = ", ".join(channel.name for channel in channels)
    print(
        f"Alerts and taskline's own failures go to: {names or f'no channel ({SLACK_WEBHOOK_URL} or {WEBHOOK_URL})'}"
    )


def check_workspace(workspace: Path) -> None:
    """Another workspace names code servers running elsewhere: their machines have the source settings."""
    if not workspace.is_file():
        raise ServeError(
            f"the workspace {workspace} (--workspace or TASKLINE_WORKSPACE) is not a file: name a workspace.yaml."
        )
    print(f"Code locations: those of {workspace} (their code servers hold the source settings)")


def checked_login(host: str, environ: dict[str, str]) -> Login | None:
    """The login nginx will ask for; serving beyond loopback without one stops here unless opted out."""
    try:
        login = login_settings(environ)
    except ProxyError as error:
        raise ServeError(str(error)) from None
    if login is None and not is_loopback(host):
        if environ.get(NO_LOGIN) != "1":
            raise ServeError(
                f"serving on {host} without a login would let anyone who reaches it launch and delete runs: "
                f"set {PASSWORD_FILE} (add users with `make user NAME=…`), or {NO_LOGIN}=1 if a proxy of your "
                "own asks for the login."
            )
        print(
            f"WARNING: {NO_LOGIN}=1: the Dagster UI and GraphQL API answer on {host} WITHOUT A LOGIN; anyone "
            "who reaches this port can launch, cancel and delete runs. Only behind a proxy of your own that "
            "asks for one.",
            file=sys.stderr,
            flush=True,
        )
    elif login is not None and login.tls is None and not is_loopback(host):
        print(
            f"warning: plain HTTP on {host}: passwords cross the network readable by anyone on the way; fine "
            f"on a trusted network only, else set {TLS_CERT} and {TLS_KEY}.",
            file=sys.stderr,
            flush=True,
        )
    return login


def serve(host: str, port: int, environ: dict[str, str], workspace: Path | None = None) -> int:
    """Start webserver + daemon (behind nginx's login when a password file is set), wait until one exits or we
    are told to stop; returns the exit code. The code is the project's (workspace.yaml), or that of the code
    servers another `workspace` names."""
    login = checked_login(host, environ)
    check_channels(environ)
    if workspace is None:
        check_sources()
    else:
        check_workspace(workspace)
    home = dagster_home(environ)
    added = ensure_instance_settings(home)
    ensure_port_free(host, port)
    kept_in = initialise_storage(home)
    env = {**environ, "DAGSTER_HOME": str(home)}
    binaries = Path(sys.executable).parent
    workspace_option = ["-w", str(workspace or ROOT / "workspace.yaml")]
    webserver_host, webserver_port = ("127.0.0.1", free_loopback_port()) if login else (host, port)
    webserver_url = f"http://{webserver_host}:{webserver_port}"
    print(
        f"DAGSTER_HOME={home}: runs, events and schedules in {kept_in}"
        + (f" (added to its dagster.yaml: {', '.join(added)})" if added else "")
    )
    processes: list[subprocess.Popen] = []
    with stopped_on_signals(), tempfile.TemporaryDirectory(prefix="taskline-proxy-") as run_dir:
        try:
            front = login and LoginProxy(login, host, port, webserver_port, Path(run_dir))
            processes.append(start([str(binaries / "dagster-daemon"), "run", *workspace_option], env))
            processes.append(
                start(
                    [
                        str(binaries / "dagster-webserver"),
                        *("-h", webserver_host, "-p", str(webserver_port)),
                        *workspace_option,
                    ],
                    env,
                )
            )
            if front:
                processes.extend(front.start(env, webserver_url))
            wait_until(
                lambda: answers(f"{webserver_url}/server_info"),
                processes,
                f"the Dagster UI ({webserver_url})",
            )
            if front:
                front.wait_until_ready(processes)
            print(
                f"taskline is up: {front.describe() if front else f'Dagster UI on {webserver_url}'} (daemon "
                "running schedules); Ctrl-C stops everything",
                flush=True,
            )
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
            ended = next(process for process in processes if process.poll() is not None)
            print(
                f"{Path(ended.args[0]).name} exited with code {ended.returncode}: stopping", file=sys.stderr
            )
            return ended.returncode or 1
        except KeyboardInterrupt:
            return 0
        finally:
            stop(processes)


class LoginProxy:
    """nginx on host:port asking for the login, in front of the webserver, the health service and the docs."""

    def __init__(self, login: Login, host: str, port: int, webserver_port: int, run_dir: Path):
        self.login, self.host, self.port = login, host, port
        self.health_port = free_loopback_port()
        config = nginx_config(login, host, port, webserver_port, self.health_port, DOCS_DIR, run_dir)
        try:
            self.config = write_config(config, run_dir, login.nginx)
        except ProxyError as error:
            raise ServeError(str(error)) from None

    def start(self, env: dict[str, str], webserver_url: str) -> list[subprocess.Popen]:
        health = [sys.executable, "-m", "orchestration.health", "--port", str(self.health_port)]
        return [
            start([*health, "--webserver", webserver_url], env),
            start(nginx_command(self.login.nginx, self.config), env),
        ]

    def wait_until_ready(self, processes: list[subprocess.Popen]) -> None:
        health_url = f"http://127.0.0.1:{self.health_port}/health"
        wait_until(lambda: answers(health_url, any_status=True), processes, "the health service")
        reach = "127.0.0.1" if self.host in ("0.0.0.0", "") else "::1" if self.host == "::" else self.host
        wait_until(lambda: accepts(reach, self.port), processes, f"nginx on {self.host}:{self.port}")

    def describe(self) -> str:
        url = f"{self.login.scheme}://{listen_address(self.host, self.port)}"
        return (
            f"{url} — login with the users of {self.login.password_file}; Dagster UI on /, dbt docs on "
            "/docs/, /health open to all"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default=os.environ.get("TASKLINE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=os.environ.get("TASKLINE_PORT", "3000"))
    parser.add_argument(
        "--workspace",
        type=lambda given: Path(given).expanduser().resolve(),
        default=os.environ.get("TASKLINE_WORKSPACE") or None,
        help="a workspace.yaml naming code servers on other machines (default: this project's code)",
    )
    args = parser.parse_args()
    try:
        sys.exit(serve(args.host, args.port, dict(os.environ), args.workspace))
    except ServeError as error:
        sys.exit(f"taskline serve: {error}")


if __name__ == "__main__":
    main()
