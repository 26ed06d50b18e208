"""`make serve`: the Dagster UI and the daemon (schedules, sensors, queued runs) on your own configuration.

    python -m orchestration.serve.server [--host HOST] [--port PORT] [--workspace FILE]

No demo stack: Flower and SQLFlow come from .dlt/ and SOURCES__* as for every run. Dagster keeps runs, event
logs and schedule state in DAGSTER_HOME (default .dagster_home/ in the project), or in the PostgreSQL database
its dagster.yaml names (checked before anything starts); that file is yours: the settings taskline needs are
added when missing, never overwritten. With --workspace (TASKLINE_WORKSPACE) naming code servers on other
machines, the runs execute there and the sources are theirs.

With TASKLINE_PASSWORD_FILE set, nginx (orchestration/serve/proxy.py) asks for a login, checked by Caddy
(orchestration/serve/login_check.py), in front of two webservers on loopback ports: the full one for operators, one
started with --read-only for viewers; beyond loopback serving without a login is refused (opt-out
TASKLINE_ALLOW_NO_LOGIN=1). Started as root it refuses (every run would be root) unless TASKLINE_ALLOW_ROOT=1.
Everything it writes in DAGSTER_HOME is readable by its owner only. Ctrl-C or SIGTERM stops every process and
everything they started.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from orchestration import settings
from orchestration.alerts.channels import NotifyError, configured_channels
from orchestration.serve import login_check
from orchestration.serve.instance_storage import (
    InstanceStorageError,
    check_postgres_storage,
    database_problem,
    postgres_storage,
)
from orchestration.serve.proxy import (
    Account,
    Login,
    ProxyError,
    Upstreams,
    free_loopback_port,
    is_loopback,
    listen_address,
    login_settings,
    nginx_command,
    nginx_config,
    read_users,
    write_config,
)
from orchestration.settings import ROOT, dashboards_dir, docs_dir
from orchestration.warehouse.postgres import connection_problem

TASKLINE_INSTANCE_SETTINGS = Path(__file__).with_name("dagster.yaml")
DEFAULT_DAGSTER_HOME = ROOT / ".dagster_home"
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0
# Caddy answers on its socket within a second; the wait blocks serve's loop when the users' file changes
CADDY_READY_S = 30.0
# a Caddy of an earlier users' file answers the checks nginx's old workers still send for this long
RETIRE_AFTER_S = 5.0
# files taskline and Dagster write under DAGSTER_HOME: runs, logs, the instance's settings
OWNER_ONLY = 0o077


class ServeError(Exception):
    """Something the user must fix before the server can start; the message says what."""


def dagster_home(environ: dict[str, str]) -> Path:
    """DAGSTER_HOME (default .dagster_home/ in the project), created when missing, as an absolute path."""
    given = settings.read(settings.DAGSTER_HOME, environ)
    home = Path(given).expanduser().resolve() if given else DEFAULT_DAGSTER_HOME
    setting = f"DAGSTER_HOME={given}" if given else f"the default DAGSTER_HOME {home}"
    if home.exists() and not home.is_dir():
        raise ServeError(f"{setting} is a file, not a directory: point DAGSTER_HOME at a directory.")
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ServeError(
            f"cannot create {setting} ({error.strerror}): choose a writable directory."
        ) from None
    if not os.access(home, os.W_OK):
        raise ServeError(f"{setting} is not writable by this user: choose a writable directory.")
    keep_to_owner(home)
    return home


def keep_to_owner(home: Path) -> None:
    """DAGSTER_HOME and what is in it, readable by this user only (a home an earlier version left open too)."""
    for path in (home, *home.rglob("*")):
        with suppress(OSError):  # a file another user owns, or one removed meanwhile, stays as it is
            info = path.lstat()
            if info.st_uid == os.getuid() and not path.is_symlink() and info.st_mode & OWNER_ONLY:
                path.chmod(info.st_mode & ~OWNER_ONLY & 0o7777)


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

    A missing file is created from orchestration/serve/dagster.yaml. An existing one is only appended to (your
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
                "\n# added by taskline (make serve): settings it needs, see orchestration/serve/dagster.yaml\n"
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
    """Refuses a port another process listens on; the connections a stopped server left in TIME-WAIT don't count
    (as for every server that binds with SO_REUSEADDR, nginx and the webserver included)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ServeError(
                f"cannot serve on {host}:{port} ({error.strerror}): another process uses that port. Choose "
                "another with --port or TASKLINE_PORT, or stop that process."
            ) from None


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A child in its own process group, so stopping it also stops the code servers it spawns."""
    return subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True, preexec_fn=child_settings)


def child_settings() -> None:
    """SIGINT and SIGTERM as a terminal gives them: a shell's background job (`nohup make serve &` in a
    script) inherits SIGINT ignored, and Dagster's processes map SIGTERM to whatever SIGINT does, so they would
    ignore the SIGTERM that stops them. And every file the child writes is its owner's alone."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.umask(OWNER_ONLY)


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


def wait_until(
    ready: Callable[[], bool], processes: list[subprocess.Popen], what: str, timeout: float = READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for process in processes:
            if process.poll() is not None:
                raise ServeError(f"{process.args[0]} exited with code {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise ServeError(f"{what} did not answer within {timeout:.0f} s")
        time.sleep(0.1 if timeout < READY_TIMEOUT_S else 0.5)


def answers(url: str, any_status: bool = False) -> bool:
    try:
        response = requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return any_status or response.ok


def unix_accepts(path: Path) -> bool:
    with suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(str(path))
        return True
    return False


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
    from orchestration.ingest.configured import configured_sources

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
    if next(source for source in sources if source.name == "flower").configured:
        check_clusters()


def check_clusters() -> None:
    """Stop on a cluster name or setting taskline refuses, before the code location would fail to load."""
    from sources.flower.clusters import ClusterSettingsError, flower_clusters

    try:
        clusters = flower_clusters()
    except (ClusterSettingsError, ValueError) as error:
        raise ServeError(str(error)) from None
    print("Flower clusters: " + ", ".join(f"{c.name} ({c.settings.base_url})" for c in clusters))


def check_channels(environ: dict[str, str]) -> None:
    """Where the notifier sends alerts: a malformed webhook URL stops here, named by its setting."""
    try:
        channels = configured_channels(environ)
    except NotifyError as error:
        raise ServeError(str(error)) from None
    names = ", ".join(channel.name for channel in channels)
    print(
        f"Alerts and taskline's own failures go to: {names or f'no channel ({settings.SLACK_WEBHOOK_URL} or {settings.WEBHOOK_URL})'}"
    )


def check_workspace(workspace: Path) -> None:
    """Another workspace names code servers running elsewhere: their machines have the source settings."""
    if not workspace.is_file():
        raise ServeError(
            f"the workspace {workspace} (--workspace or TASKLINE_WORKSPACE) is not a file: name a workspace.yaml."
        )
    print(f"Code locations: those of {workspace} (their code servers hold the source settings)")


def check_not_root(environ: dict[str, str]) -> None:
    """Runs execute as the user who serves: as root, any step is root's."""
    if os.geteuid() == 0 and settings.read(settings.ALLOW_ROOT, environ) != "1":
        raise ServeError(
            "started as root, every run and the login proxy's workers would run as root: start it as an "
            f"unprivileged user (e.g. `sudo -u taskline make serve`), or set {settings.ALLOW_ROOT}=1 to accept that."
        )


def warn_when_root() -> None:
    if os.geteuid() == 0:
        print(
            f"warning: {settings.ALLOW_ROOT}=1: running as root; every run executes as root.",
            file=sys.stderr,
            flush=True,
        )


def checked_login(host: str, environ: dict[str, str]) -> Login | None:
    """The login nginx will ask for; serving beyond loopback without one stops here unless opted out."""
    try:
        login = login_settings(environ)
    except ProxyError as error:
        raise ServeError(str(error)) from None
    if login is None and not is_loopback(host):
        if settings.read(settings.NO_LOGIN, environ) != "1":
            raise ServeError(
                f"serving on {host} without a login would let anyone who reaches it launch and delete runs: "
                f"set {settings.PASSWORD_FILE} (add users with `make user NAME=…`), or {settings.NO_LOGIN}=1 if a proxy of your "
                "own asks for the login."
            )
        print(
            f"WARNING: {settings.NO_LOGIN}=1: the Dagster UI and GraphQL API answer on {host} WITHOUT A LOGIN; anyone "
            "who reaches this port can launch, cancel and delete runs. Only behind a proxy of your own that "
            "asks for one.",
            file=sys.stderr,
            flush=True,
        )
    elif login is not None and login.tls is None and not is_loopback(host):
        print(
            f"warning: plain HTTP on {host}: passwords cross the network readable by anyone on the way; fine "
            f"on a trusted network only, else set {settings.TLS_CERT} and {settings.TLS_KEY}.",
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
    check_not_root(environ)
    previous_umask = os.umask(OWNER_ONLY)  # DAGSTER_HOME's files, this process's and its children's
    try:
        return start_services(host, port, login, environ, workspace)
    finally:
        os.umask(previous_umask)


def start_services(
    host: str, port: int, login: Login | None, environ: dict[str, str], workspace: Path | None
) -> int:
    """The instance prepared, then the daemon, the webserver and (with a login) the front, until one exits."""
    home = dagster_home(environ)
    prepare_instance(home, host, port)
    env = {**environ, "DAGSTER_HOME": str(home)}
    dagster = Dagster.on(host, port, workspace, behind_login=login is not None)
    processes: list[subprocess.Popen] = []
    front: LoginProxy | None = None
    with stopped_on_signals(), tempfile.TemporaryDirectory(prefix="taskline-proxy-") as run_dir:
        try:
            front = login and LoginProxy(login, host, port, dagster.port, Path(run_dir))
            start_all(dagster, front, env, processes)
            wait_until_up(dagster, front, processes)
            warn_when_root()
            return run_until_one_exits(processes, front)
        except KeyboardInterrupt:
            return 0
        finally:
            stop(processes + (front.retiring if front else []))


def prepare_instance(home: Path, host: str, port: int) -> None:
    """DAGSTER_HOME's settings completed, the port checked free, the instance's storage ready; says where."""
    added = ensure_instance_settings(home)
    ensure_port_free(host, port)
    kept_in = initialise_storage(home)
    print(
        f"DAGSTER_HOME={home}: runs, events and schedules in {kept_in}"
        + (f" (added to its dagster.yaml: {', '.join(added)})" if added else "")
    )


@dataclass(frozen=True)
class Dagster:
    """The commands of the daemon and the (operators') webserver, and where the webserver listens: on
    host:port itself, or on a loopback port behind the login."""

    daemon: list[str]
    webserver: list[str]  # without its address
    host: str
    port: int

    @classmethod
    def on(cls, host: str, port: int, workspace: Path | None, behind_login: bool) -> "Dagster":
        binaries = Path(sys.executable).parent
        workspace_option = ["-w", str(workspace or ROOT / "workspace.yaml")]
        webserver_host, webserver_port = ("127.0.0.1", free_loopback_port()) if behind_login else (host, port)
        return cls(
            daemon=[str(binaries / "dagster-daemon"), "run", *workspace_option],
            webserver=[str(binaries / "dagster-webserver"), *workspace_option],
            host=webserver_host,
            port=webserver_port,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def start_all(
    dagster: Dagster, front: "LoginProxy | None", env: dict[str, str], processes: list[subprocess.Popen]
) -> None:
    """The daemon, the webserver, then the front's processes, each added to `processes` once started (so a
    failure stops those already running)."""
    processes.append(start(dagster.daemon, env))
    processes.append(start([*dagster.webserver, "-h", dagster.host, "-p", str(dagster.port)], env))
    if front:
        processes.extend(front.start(env, dagster.webserver, dagster.url))


def wait_until_up(dagster: Dagster, front: "LoginProxy | None", processes: list[subprocess.Popen]) -> None:
    """The Dagster UI answers (and the front's services do), then says where to go."""
    wait_until(lambda: answers(f"{dagster.url}/server_info"), processes, f"the Dagster UI ({dagster.url})")
    if front:
        front.wait_until_ready(processes)
    print(
        f"taskline is up: {front.describe() if front else f'Dagster UI on {dagster.url}'} (daemon "
        "running schedules); Ctrl-C stops everything",
        flush=True,
    )


def run_until_one_exits(processes: list[subprocess.Popen], front: "LoginProxy | None") -> int:
    """Watches the processes (and the users' file) until one exits; its code, never 0."""
    while all(process.poll() is None for process in processes):
        time.sleep(0.5)
        if front:
            front.reload_when_users_change(processes)
    ended = next(process for process in processes if process.poll() is not None)
    print(f"{Path(ended.args[0]).name} exited with code {ended.returncode}: stopping", file=sys.stderr)
    return ended.returncode or 1


class LoginProxy:
    """nginx on host:port asking for the login, checked by Caddy, in front of the webservers of each role, the
    health service and the docs; it takes the users' file again (users, passwords, roles) when it changes."""

    def __init__(self, login: Login, host: str, port: int, operator_port: int, run_dir: Path):
        self.login, self.host, self.port, self.run_dir = login, host, port, run_dir
        self.upstreams = Upstreams(operator_port, free_loopback_port(), free_loopback_port())
        self.users_seen = self.users_file_version()
        self.generation = 0
        self.users = read_users(login.password_file)
        self.caddy_socket = login_check.caddy_socket(run_dir, self.generation)
        self.caddy_config = login_check.write_caddy_config(self.users, self.caddy_socket)
        self.config = self.write(self.users, self.caddy_socket)
        self.nginx: subprocess.Popen | None = None
        self.caddy: subprocess.Popen | None = None
        # Caddys of an earlier users' file, stopped once nginx's old workers are done with them
        self.retiring: list[subprocess.Popen] = []
        self.retire_at = 0.0

    def write(self, users: dict[str, Account], caddy_socket: Path) -> Path:
        config = nginx_config(
            self.login,
            users,
            self.host,
            self.port,
            self.upstreams,
            docs_dir(),
            dashboards_dir() / "site",
            self.run_dir,
            caddy_socket,
        )
        try:
            return write_config(config, self.run_dir, self.login.nginx)
        except ProxyError as error:
            raise ServeError(str(error)) from None

    def start_caddy(self, env: dict[str, str], config: Path, socket_path: Path) -> subprocess.Popen:
        """Caddy in its own process group, answering on `socket_path`; stopped again if it does not."""
        caddy = start(
            login_check.caddy_command(self.login.caddy, config),
            login_check.caddy_environment(env, self.run_dir),
        )
        try:
            wait_until(
                lambda: unix_accepts(socket_path),
                [caddy],
                "Caddy, which checks the passwords,",
                CADDY_READY_S,
            )
        except (ServeError, KeyboardInterrupt):
            stop([caddy])
            raise
        return caddy

    def start(self, env: dict[str, str], webserver: list[str], operator_url: str) -> list[subprocess.Popen]:
        self.env = env
        viewer_port = str(self.upstreams.viewer)
        health = [sys.executable, "-m", "orchestration.serve.health", "--port", str(self.upstreams.health)]
        self.caddy = self.start_caddy(env, self.caddy_config, self.caddy_socket)
        self.nginx = start(nginx_command(self.login.nginx, self.config), env)
        return [
            start([*webserver, "--read-only", "-h", "127.0.0.1", "-p", viewer_port], env),
            start([*health, "--webserver", operator_url], env),
            self.caddy,
            self.nginx,
        ]

    def wait_until_ready(self, processes: list[subprocess.Popen]) -> None:
        viewer_url = f"http://127.0.0.1:{self.upstreams.viewer}/server_info"
        wait_until(lambda: answers(viewer_url), processes, "the viewers' Dagster UI")
        health_url = f"http://127.0.0.1:{self.upstreams.health}/health"
        wait_until(lambda: answers(health_url, any_status=True), processes, "the health service")
        reach = "127.0.0.1" if self.host in ("0.0.0.0", "") else "::1" if self.host == "::" else self.host
        wait_until(lambda: accepts(reach, self.port), processes, f"nginx on {self.host}:{self.port}")

    def users_file_version(self) -> tuple[int, int, int] | None:
        with suppress(OSError):
            info = self.login.password_file.stat()
            return info.st_ino, info.st_mtime_ns, info.st_size
        return None

    def reload_when_users_change(self, processes: list[subprocess.Popen]) -> None:
        """A changed users' file applies at once: a Caddy with the new accounts starts on a socket of its own,
        nginx reloads its configuration (the new socket, the known names, the roles), and the old Caddy stops
        RETIRE_AFTER_S later, once nginx's old workers are done with it. `processes` (serve's) then holds the
        new Caddy in place of the old one."""
        if self.retiring and time.monotonic() >= self.retire_at:
            stop(self.retiring)
            for retired in self.retiring:
                with suppress(OSError):
                    Path(retired.args[-1]).unlink()  # its config, which holds the old hashes
            self.retiring = []
        version = self.users_file_version()
        if version == self.users_seen or self.nginx is None or self.caddy is None:
            return
        self.users_seen = version
        generation = self.generation + 1
        socket_path = login_check.caddy_socket(self.run_dir, generation)
        try:
            users = read_users(self.login.password_file)
            caddy = self.start_caddy(
                self.env, login_check.write_caddy_config(users, socket_path), socket_path
            )
        except (ProxyError, ServeError) as error:
            print(f"taskline serve: users unchanged: {error}", file=sys.stderr, flush=True)
            return
        try:
            self.write(users, socket_path)
        except ServeError as error:
            stop([caddy])
            print(f"taskline serve: users unchanged: {error}", file=sys.stderr, flush=True)
            return
        self.nginx.send_signal(signal.SIGHUP)
        processes[processes.index(self.caddy)] = caddy
        self.retiring.append(self.caddy)
        self.retire_at = time.monotonic() + RETIRE_AFTER_S
        self.caddy, self.caddy_socket, self.generation, self.users = caddy, socket_path, generation, users
        print("taskline serve: the users' file changed: users, passwords and roles reloaded", flush=True)

    def describe(self) -> str:
        url = f"{self.login.scheme}://{listen_address(self.host, self.port)}"
        return (
            f"{url} — login with the users of {self.login.password_file} (viewers read, operators launch); "
            "Dagster UI on /, dbt docs on /docs/, dashboards on /dashboards/, /health open to all"
        )


def port_number(given: str) -> int:
    if not given.isdigit() or not 0 < int(given) < 65536:
        raise SystemExit(
            f"taskline serve: the port {given!r} (--port or TASKLINE_PORT) is not a number from 1 to 65535."
        )
    return int(given)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default=settings.value(settings.HOST))
    parser.add_argument("--port", default=settings.value(settings.PORT))
    parser.add_argument(
        "--workspace",
        type=lambda given: Path(given).expanduser().resolve(),
        default=settings.read(settings.WORKSPACE) or None,
        help="a workspace.yaml naming code servers on other machines (default: this project's code)",
    )
    args = parser.parse_args()
    try:
        sys.exit(serve(args.host, port_number(args.port), settings.environment(), args.workspace))
    except ServeError as error:
        sys.exit(f"taskline serve: {error}")
