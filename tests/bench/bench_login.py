"""`make serve`'s login under a flood of wrong passwords (issue 28, item 4): nginx as proxy.nginx_config
writes it, asking Caddy (orchestration/serve/login_check.py, started as serve.py starts it) through the gate.

    PYTHONPATH=$PWD .venv/bin/python -m tests.bench.bench_login [--rounds N] [--dagster]

Loopback only. Starts nginx and Caddy in front of a stand-in for Dagster's webserver (answers every request
at once with a small JSON body) or, with --dagster (`make bench`), a real dagster-webserver on this
project's workspace (a GraphQL query listing the jobs and assets), and measures:

- idle: latency of a logged-in POST /graphql, one at a time;
- flood: the same while 24 connections from another address (127.0.0.2) send wrong passwords (a new
  password every time) for FLOOD_S seconds; /health too;
- timing: a wrong password for a known name against one for an unknown name (new passwords, each address
  used for a few requests only so no failure limit delays them; after a warm-up);
- throughput: logged-in POST /graphql from CONCURRENCY connections (one address, so proxy.py's GraphQL
  limit per address applies as it would to one client) for THROUGHPUT_S seconds.

and prints them against issue 28's targets: under the flood ≤ 2x idle, |unknown - known| < 5 ms, ≥ 50
logged-in GraphQL requests/s. nginx's own auth_basic, which this replaced, measured (prototype, commit
00a76e3, real dagster-webserver, medians of 3 rounds) 2.44x, -117.8 ms and 8.6 requests/s. Passwords live
in this process's memory only; nothing logs requests.
"""

import argparse
import asyncio
import base64
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestration import settings
from orchestration.serve import login_check, proxy, users

FLOOD_CONNECTIONS, FLOOD_S = 24, 20.0
TARGET_FLOOD_RATIO, TARGET_TIMING_MS, TARGET_RATE = 2.0, 5.0, 50.0
PROBE_EVERY_S = 0.1
IDLE_REQUESTS = 150
TIMING_SAMPLES, TIMING_WARMUP, PER_ADDRESS = 200, 10, 4
CONCURRENCY, THROUGHPUT_S = 8, 10.0
GRAPHQL_BODY = (
    b'{"query": "{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name '
    b'pipelines { name } assetNodes { assetKey { path } } } } } }"}'
)
DAGSTER_START_S = 240
STAND_IN_BODY = b'{"data": {"version": "stand-in"}}'


# ---- the stand-in webserver --------------------------------------------------------------------------


async def serve_stand_in(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(STAND_IN_BODY)).encode()
                    + b"\r\n\r\n"
                    + STAND_IN_BODY
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


def run_stand_in(port: int) -> None:
    asyncio.run(serve_stand_in(port))


# ---- a small keep-alive HTTP/1.1 client --------------------------------------------------------------


class Client:
    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.port, self.source = port, source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                "127.0.0.1", self.port, local_addr=(self.source, 0)
            )
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


async def timed(client: Client, *args) -> tuple[float, int]:
    start = time.perf_counter()
    status = await client.request(*args)
    return (time.perf_counter() - start) * 1000, status


def graphql(login: str) -> tuple:
    return "POST", "/graphql", {"Authorization": login, "Content-Type": "application/json"}, GRAPHQL_BODY


# ---- the measurements --------------------------------------------------------------------------------


async def idle(port: int, login: str) -> list[float]:
    client = Client(port)
    for _ in range(10):
        await client.request(*graphql(login))
    times = []
    for _ in range(IDLE_REQUESTS):
        ms, status = await timed(client, *graphql(login))
        assert status == 200, status
        times.append(ms)
        await asyncio.sleep(0.01)
    client.close()
    return times


async def flood(port: int, name: str, seconds: float) -> dict[int, int]:
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def one() -> None:
        client = Client(port, "127.0.0.2")
        while time.monotonic() < deadline:
            try:
                status = await asyncio.wait_for(
                    client.request("GET", "/", {"Authorization": basic(name, secrets.token_urlsafe(12))}),
                    timeout=max(0.1, deadline - time.monotonic()),
                )
            except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                client.close()
                continue
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one() for _ in range(FLOOD_CONNECTIONS)))
    return statuses


def run_flood(port: int, name: str, seconds: float, results) -> None:
    results.put(asyncio.run(flood(port, name, seconds)))


async def under_flood(port: int, login: str, name: str) -> tuple[list[float], list[float], dict, int]:
    results: multiprocessing.Queue = multiprocessing.Queue()
    attacker = multiprocessing.Process(target=run_flood, args=(port, name, FLOOD_S, results))
    attacker.start()
    await asyncio.sleep(1.0)  # the flood is under way
    logged_in, health, failed = [], [], 0
    deadline = time.monotonic() + FLOOD_S - 2.0
    client, health_client = Client(port), Client(port)
    while time.monotonic() < deadline:
        try:
            ms, status = await asyncio.wait_for(timed(client, *graphql(login)), timeout=30)
            logged_in.append(ms) if status == 200 else None
            failed += status != 200
            ms, status = await asyncio.wait_for(timed(health_client, "GET", "/health", {}), timeout=30)
            health.append(ms)
        except TimeoutError:
            failed += 1
            client.close()
            health_client.close()
        await asyncio.sleep(PROBE_EVERY_S)
    client.close()
    health_client.close()
    statuses = results.get(timeout=FLOOD_S + 60)
    attacker.join(timeout=30)
    return logged_in, health, statuses, failed


async def timing(port: int, known: str) -> tuple[list[float], list[float]]:
    """Wrong passwords, known name and unknown name interleaved, each from addresses used PER_ADDRESS times."""
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    address = 0
    for round_ in range(TIMING_WARMUP + TIMING_SAMPLES):
        if round_ % (PER_ADDRESS // 2) == 0:
            address += 1
            source = f"127.0.{1 + address // 250}.{1 + address % 250}"
        for kind, name in (("known", known), ("unknown", "mallory" + secrets.token_hex(3))):
            client = Client(port, source)
            await client.request("GET", "/health", {})  # connected before the clock starts
            ms, status = await timed(
                client, "GET", "/", {"Authorization": basic(name, secrets.token_urlsafe(12))}
            )
            client.close()
            assert status == 401, status
            if round_ >= TIMING_WARMUP:
                times[kind].append(ms)
    return times["known"], times["unknown"]


async def throughput(port: int, login: str) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + THROUGHPUT_S

    async def one() -> None:
        client = Client(port)
        while time.monotonic() < deadline:
            status = await client.request(*graphql(login))
            statuses[status] = statuses.get(status, 0) + 1
        client.close()

    start = time.monotonic()
    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    return statuses.get(200, 0) / (time.monotonic() - start), statuses


# ---- the setups --------------------------------------------------------------------------------------


def wait_for(check, what: str, processes: list[subprocess.Popen], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        for process in processes:
            if process.poll() is not None:
                sys.exit(f"bench_login: {what} exited ({process.returncode})")
        time.sleep(0.05)
    sys.exit(f"bench_login: {what} not ready after {seconds} s")


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_login(password_file: Path, run_dir: Path, upstream_port: int, health_port: int) -> tuple[int, list]:
    """Caddy and nginx as `make serve` starts them (serve.LoginProxy), both webservers' upstreams the same."""
    port = proxy.free_loopback_port()
    environ = dict(os.environ)
    login = proxy.login_settings({**environ, settings.PASSWORD_FILE: str(password_file)})
    users = proxy.read_users(password_file)
    socket = login_check.caddy_socket(run_dir, 0)
    caddy_config = login_check.write_caddy_config(users, socket)
    processes = [
        subprocess.Popen(
            login_check.caddy_command(login.caddy, caddy_config),
            env=login_check.caddy_environment(environ, run_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    wait_for(lambda: socket.exists(), "caddy", processes)
    upstreams = proxy.Upstreams(upstream_port, upstream_port, health_port)
    config = proxy.nginx_config(login, users, "127.0.0.1", port, upstreams, run_dir, run_dir, run_dir, socket)
    path = proxy.write_config(config, run_dir, login.nginx)
    # its error log (a line per GraphQL request over the limit in the throughput run) stays in the run dir
    with (run_dir / "nginx-errors.log").open("w") as errors:
        processes.append(
            subprocess.Popen(proxy.nginx_command(login.nginx, path), stdout=subprocess.DEVNULL, stderr=errors)
        )
    wait_for(lambda: port_open(port), "nginx", processes)
    return port, processes


def stop(processes: list) -> None:
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def summary(times: list[float]) -> str:
    if not times:
        return "no answers"
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"median {statistics.median(times):8.1f} ms  p90 {p90:8.1f} ms  max {ordered[-1]:8.1f} ms  (n={len(times)})"


def verdict(met: bool) -> str:
    return "meets the target" if met else "MISSES THE TARGET"


async def measure(port: int, login: str) -> None:
    idle_times = await idle(port, login)
    print(f"  idle logged-in POST /graphql     {summary(idle_times)}", flush=True)
    logged_in, health, statuses, failed = await under_flood(port, login, "alice")
    print(f"  under flood: logged-in /graphql  {summary(logged_in)}  not 200 / timed out: {failed}")
    print(f"  under flood: /health             {summary(health)}")
    print(
        f"  flood answers ({FLOOD_S:.0f} s, {FLOOD_CONNECTIONS} connections from 127.0.0.2): {dict(sorted(statuses.items()))}"
    )
    ratio = statistics.median(logged_in) / statistics.median(idle_times) if logged_in else float("inf")
    print(
        f"  flood / idle (medians)           {ratio:.2f}x  (≤ {TARGET_FLOOD_RATIO:.0f}x: {verdict(ratio <= TARGET_FLOOD_RATIO)})",
        flush=True,
    )
    await asyncio.sleep(2.0)
    known, unknown = await timing(port, "alice")
    print(f"  wrong password, known name       {summary(known)}")
    print(f"  wrong password, unknown name     {summary(unknown)}")
    paired = statistics.median(u - k for u, k in zip(unknown, known, strict=True))
    difference = statistics.median(unknown) - statistics.median(known)
    print(
        f"  unknown - known                  {difference:+.1f} ms (difference of medians), {paired:+.1f} ms "
        f"(median of paired differences)  (< {TARGET_TIMING_MS:.0f} ms: "
        f"{verdict(abs(difference) < TARGET_TIMING_MS)})",
        flush=True,
    )
    rate, statuses = await throughput(port, login)
    print(
        f"  throughput ({CONCURRENCY} connections, {THROUGHPUT_S:.0f} s)   {rate:.1f} logged-in requests/s  "
        f"{dict(sorted(statuses.items()))}  (≥ {TARGET_RATE:.0f}/s: {verdict(rate >= TARGET_RATE)})",
        flush=True,
    )


def start_dagster(temp: Path) -> tuple[int, subprocess.Popen]:
    """dagster-webserver on this project's workspace, with a throwaway DAGSTER_HOME and dummy Flower login."""
    port = proxy.free_loopback_port()
    home = temp / "dagster_home"
    home.mkdir(mode=0o700)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SOURCES__FLOWER__USERNAME": "bench",
        "SOURCES__FLOWER__PASSWORD": "bench",
        "PYTHONPATH": os.getcwd(),
    }
    binary = Path(sys.executable).with_name("dagster-webserver")
    process = subprocess.Popen(
        [str(binary), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql", GRAPHQL_BODY, {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return b"RepositoryConnection" in response.read()
        except OSError:
            return False

    wait_for(answers, "dagster-webserver", [process], DAGSTER_START_S)
    return port, process


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat each configuration (for medians)")
    parser.add_argument("--dagster", action="store_true", help="a real dagster-webserver behind nginx")
    args = parser.parse_args()
    password = secrets.token_urlsafe(18)  # in memory only
    with tempfile.TemporaryDirectory(prefix="bench-login-") as temp:
        password_file = Path(temp) / "users"
        users.add(password_file, "alice", password)
        users.add(password_file, "bob", secrets.token_urlsafe(18))
        upstream_port = proxy.free_loopback_port()
        stand_in = multiprocessing.Process(target=run_stand_in, args=(upstream_port,), daemon=True)
        stand_in.start()
        wait_for(lambda: port_open(upstream_port), "the stand-in webserver", [])
        health_port, dagster = upstream_port, None
        if args.dagster:
            upstream_port, dagster = start_dagster(Path(temp))
        print(
            f"upstream: {'dagster-webserver' if dagster else 'stand-in'}; 2 cores shared, load {os.getloadavg()[0]:.1f}"
        )
        try:
            for round_ in range(args.rounds):
                run_dir = Path(temp) / f"run-{round_}"
                run_dir.mkdir(mode=0o700)
                for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                    (run_dir / sub).mkdir()
                print(f"nginx auth_request -> gate -> Caddy, round {round_ + 1}:", flush=True)
                port, processes = start_login(password_file, run_dir, upstream_port, health_port)
                try:
                    asyncio.run(measure(port, basic("alice", password)))
                finally:
                    stop(processes)
        finally:
            if dagster:
                stop([dagster])
            stand_in.terminate()
            stand_in.join(timeout=10)


if __name__ == "__main__":
    main()
