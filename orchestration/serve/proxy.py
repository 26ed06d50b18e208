"""The login in front of `make serve`: Debian's nginx, configured and started by taskline.

nginx because Debian's package does in one maintained process what the front needs: rate limits
(`limit_req`, `limit_conn`) for login checks and GraphQL, websocket proxying for the UI's live updates, TLS,
and static files for the dbt docs. nginx does not check passwords itself: its `auth_basic` runs bcrypt in
its few blocking workers, before any rate limit, so a flood of wrong passwords stalls every user, and an
unknown name answers faster than a known one. Each request asks (`auth_request`, rate-limited per client
address before the check) Debian's Caddy, which checks the bcrypt hashes in goroutines and caches the
results (Caddy 2.6 has no rate limiting without a plugin, nginx has); orchestration/serve/login_check.py writes
that part.

The Dagster webservers and the health service listen on loopback ports only nginx reaches; nginx listens on
TASKLINE_HOST:TASKLINE_PORT and asks for a login everywhere except `/health`. Each user has a role: viewers reach a
webserver started with `--read-only`, operators the full one. Nothing is served to another site's page: a request
a browser sends for another site (its Origin or Sec-Fetch-Site says so) is refused, but for a link followed to a
page of the UI.
"""

import dataclasses
import os
import pwd
import re
import shutil
import socket
import ssl
import stat
import subprocess
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

if TYPE_CHECKING:
    from orchestration.serve.login_check import NginxLines

from orchestration import settings
from orchestration.keys import DASHBOARDS_FALLBACK_PAGE

NGINX_TEMPLATE = "nginx.conf.j2"  # beside this module
REALM = "taskline"
ROLES = ("viewer", "operator")
DEFAULT_ROLE = "viewer"
# names nginx's configuration can hold unquoted, and a users' file line can hold before its first ':'
USER_NAME = re.compile(r"[A-Za-z0-9._@+-]{1,64}")
# the hashes Caddy's http_basic checks: bcrypt (what `make user` writes), 60 characters; no plain text
HASH_PREFIXES = ("$2a$", "$2b$", "$2y$")
BCRYPT_LENGTH = 60
# GraphQL requests per client address. Once a login is checked (and cached) a request costs the proxy next
# to nothing, so the bound is what Dagster's webserver answers (`make bench` measures it): one logged-in
# client, a dashboard or a script polling runs, may use about a third of it (issue 28 asks for 50/s), the
# UI's bursts pass at once, and a client hammering mutations is still held, leaving the webserver to the
# others. (A rate of 10/s alone capped a client below what issue 28 asks.)
GRAPHQL_REQUESTS = "rate=100r/s", "burst=200 nodelay"


# set in each location that proxies (a location's own proxy_set_header drops the server's); the password
# stays with nginx
FORWARDED = (
    "proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
    ' proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header Authorization "";'
)


class ProxyError(Exception):
    """The login cannot be set up as configured; the message says what to set or fix."""


@dataclass(frozen=True)
class Account:
    """A line of the users' file, `name:hash:role`."""

    hashed: str
    role: str

    def line(self, name: str) -> str:
        return f"{name}:{self.hashed}:{self.role}\n"


@dataclass(frozen=True)
class Login:
    """How the login is asked for: the users' file, the TLS certificate and key (or plain HTTP), the binaries of
    nginx and of Caddy (which checks the passwords)."""

    password_file: Path
    tls: tuple[Path, Path] | None
    nginx: str
    caddy: str

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


def login_settings(environ: dict[str, str]) -> Login | None:
    """The login configured in `environ`, checked as nginx and Caddy will use it; None when no password file is
    set."""
    from orchestration.serve import login_check  # it imports this module's ProxyError and Account

    tls = tls_settings(environ)
    given = settings.read(settings.PASSWORD_FILE, environ)
    if not given:
        if tls:
            raise ProxyError(
                f"{settings.TLS_CERT}/{settings.TLS_KEY} are set but {settings.PASSWORD_FILE} is not: TLS is served by the login proxy, "
                f"so set {settings.PASSWORD_FILE} too (add a user with `make user NAME=…`)."
            )
        return None
    password_file = Path(given).expanduser().resolve()
    read_users(password_file)
    refuse_readable_by_others(password_file, f"the password file ({settings.PASSWORD_FILE})")
    nginx = nginx_binary(environ)
    login_check.check_njs_module()
    return Login(password_file, tls, nginx, login_check.caddy_binary(environ))


def read_users(password_file: Path) -> dict[str, Account]:
    """`user:hash[:role]` per line (# comments and blank lines allowed), every hash a bcrypt one (what Caddy
    checks); a line without a role is a viewer's. The one reader of the file: `make user`, nginx's roles and
    Caddy's accounts all come from here."""
    try:
        lines = password_file.read_text().splitlines()
    except OSError as error:
        raise ProxyError(
            f"the password file {password_file} ({settings.PASSWORD_FILE}) cannot be read ({error.strerror}): create "
            "it with `make user NAME=…` or make it readable by this user."
        ) from None
    users = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, rest = line.partition(":")
        hashed, _, role = rest.partition(":")
        if not hashed.startswith(HASH_PREFIXES) or len(hashed) != BCRYPT_LENGTH:
            raise ProxyError(
                f"line {number} of the password file {password_file} is not `user:hash` with a bcrypt hash: "
                "write its users with `make user NAME=…`, never plain passwords."
            )
        if not USER_NAME.fullmatch(name):
            raise ProxyError(
                f"line {number} of the password file {password_file} names a user {name!r}: a name is 1-64 "
                "letters, digits and ._@+- (`make user NAME=…`)."
            )
        if role.strip() not in ("", *ROLES):
            raise ProxyError(
                f"line {number} of the password file {password_file} gives {name} the role {role.strip()!r}: "
                f"a role is {' or '.join(ROLES)} (`make user NAME={name} ROLE=…`)."
            )
        users[name] = Account(hashed, role.strip() or DEFAULT_ROLE)
    if not users:
        raise ProxyError(
            f"the password file {password_file} ({settings.PASSWORD_FILE}) has no users: add one with `make user NAME=…`."
        )
    return users


def refuse_readable_by_others(path: Path, what: str) -> None:
    """A secret other users of the machine can read is refused, with the command that mends it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ProxyError(
            f"{what} {path} can be read by other users of this machine (mode {mode:04o}): make it yours alone "
            f"with `chmod 600 {path}`."
        )


def tls_settings(environ: dict[str, str]) -> tuple[Path, Path] | None:
    """The certificate and key, both readable and matching each other; None when neither is set."""
    cert, key = settings.read(settings.TLS_CERT, environ), settings.read(settings.TLS_KEY, environ)
    if not cert and not key:
        return None
    if not cert or not key:
        raise ProxyError(
            f"set both {settings.TLS_CERT} and {settings.TLS_KEY} (the certificate and its private key), or neither."
        )
    cert_path, key_path = Path(cert).expanduser().resolve(), Path(key).expanduser().resolve()
    for path, name in ((cert_path, settings.TLS_CERT), (key_path, settings.TLS_KEY)):
        if not path.is_file():
            raise ProxyError(f"{path} ({name}) is not a file: point {name} at your PEM file.")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            cert_path, key_path, password=lambda: b""
        )
    except OSError as error:  # ssl.SSLError included
        raise ProxyError(tls_problem(cert_path, key_path, error)) from None
    refuse_readable_by_others(key_path, f"the TLS key ({settings.TLS_KEY})")
    return cert_path, key_path


def is_encrypted(key: Path) -> bool:
    """PKCS#8 and traditional PEM keys say so in their header (OpenSSL's own error is only "PEM lib")."""
    try:
        text = key.read_text(errors="replace")
    except OSError:
        return False
    return "-----BEGIN ENCRYPTED PRIVATE KEY-----" in text or "Proc-Type: 4,ENCRYPTED" in text


def tls_problem(cert: Path, key: Path, error: OSError) -> str:
    reason = getattr(error, "reason", None) or error.strerror or str(error)
    if reason == "KEY_VALUES_MISMATCH":
        return f"the TLS certificate {cert} does not match the key {key} ({settings.TLS_CERT}/{settings.TLS_KEY}): give the key it was issued for."
    if is_encrypted(key):
        return f"the TLS key {key} ({settings.TLS_KEY}) is encrypted: give nginx an unencrypted key (readable by this user only)."
    return f"the TLS certificate {cert} and key {key} ({settings.TLS_CERT}/{settings.TLS_KEY}) cannot be used ({reason}): give a PEM certificate and its PEM key."


def nginx_binary(environ: dict[str, str]) -> str:
    """TASKLINE_NGINX when set, else nginx on the PATH or in Debian's /usr/sbin."""
    given = settings.read(settings.NGINX, environ)
    found = shutil.which(given) if given else shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        where = f"{settings.NGINX}={given}" if given else "nginx (on the PATH or in /usr/sbin)"
        raise ProxyError(
            f"{where}, which asks for the login, is not an executable: install Debian's package "
            f"(`apt-get install nginx-light`) or point {settings.NGINX} at the binary."
        )
    return found


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback one (127.0.0.0/8, ::1)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ip_address(address.split("%")[0]).is_loopback for address in addresses)


def free_loopback_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it when binding port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Upstreams:
    """The loopback ports nginx proxies to: the full webserver, the read-only one, the health service."""

    operator: int
    viewer: int
    health: int


def operator_patterns(users: dict[str, Account]) -> list[str]:
    """The operators' names as the regular expressions of nginx's role map: case-sensitive, since nginx
    compares a map's plain strings ignoring case, and `Ops` is not `ops`."""
    return [f"~^{re.escape(name)}$" for name, account in users.items() if account.role == "operator"]


@dataclass(frozen=True)
class NginxContext:
    """What nginx.conf.j2 is rendered from."""

    run_dir: Path
    worker_user: str | None  # the user nginx's workers run as, when nginx is started as root
    check: "NginxLines"  # the login check's lines (login_check.py)
    verified_user: str  # nginx's variable holding the user the password check verified
    operator_patterns: list[str]
    listen: str
    tls: tuple[Path, Path] | None
    upstreams: Upstreams
    docs_dir: Path
    dashboards_dir: Path
    dashboards_fallback: str = DASHBOARDS_FALLBACK_PAGE
    temp_kinds: tuple[str, ...] = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    graphql_rate: str = GRAPHQL_REQUESTS[0]
    graphql_burst: str = GRAPHQL_REQUESTS[1]
    forwarded: str = FORWARDED


def render_nginx(context: NginxContext) -> str:
    """nginx.conf.j2 (beside this module) filled in from `context`; a name it lacks is an error."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    fields = {field.name: getattr(context, field.name) for field in dataclasses.fields(context)}
    return environment.get_template(NGINX_TEMPLATE).render(fields)


def nginx_config(
    login: Login,
    users: dict[str, Account],
    host: str,
    port: int,
    upstreams: Upstreams,
    docs_dir: Path,
    dashboards_dir: Path,
    run_dir: Path,
    caddy_socket: Path,
) -> str:
    """nginx.conf: the login (checked by Caddy on `caddy_socket`) everywhere but /health, each user on the
    webserver of their role (websocket too), the dbt docs under /docs/, the dashboards under /dashboards/, nothing for another site's page, login
    checks and GraphQL rate-limited per client address. Writes the njs script it loads."""
    from orchestration.serve import login_check  # it imports this module's ProxyError and Account

    # as root (allowed only with TASKLINE_ALLOW_ROOT=1): workers of root too, who read the users' file and docs
    worker_user = pwd.getpwuid(os.getuid()).pw_name if os.geteuid() == 0 else None
    return render_nginx(
        NginxContext(
            run_dir=run_dir,
            worker_user=worker_user,
            check=login_check.nginx_lines(users, run_dir, caddy_socket),
            verified_user=login_check.VERIFIED_USER,
            operator_patterns=operator_patterns(users),
            listen=listen_address(host, port),
            tls=login.tls,
            upstreams=upstreams,
            docs_dir=docs_dir,
            dashboards_dir=dashboards_dir,
        )
    )


def write_config(config: str, run_dir: Path, nginx: str) -> Path:
    """nginx.conf in `run_dir`, checked by `nginx -t`: what nginx rejects is one sentence before anything starts."""
    path = run_dir / "nginx.conf"
    path.write_text(config)
    checked = subprocess.run(
        [nginx, "-t", "-q", "-e", "stderr", "-p", str(run_dir), "-c", str(path)],
        capture_output=True,
        text=True,
    )
    if checked.returncode != 0:
        problem = checked.stderr.strip().splitlines()[-1] if checked.stderr.strip() else "no reason given"
        raise ProxyError(f"nginx refuses the login proxy's configuration ({problem}).")
    return path


def nginx_command(nginx: str, config: Path) -> list[str]:
    return [nginx, "-e", "stderr", "-p", str(config.parent), "-c", str(config)]
