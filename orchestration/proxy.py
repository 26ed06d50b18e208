"""The login in front of `make serve`: Debian's nginx, configured and started by taskline.

nginx because Debian's package does everything this needs in one maintained process: HTTP basic auth over
bcrypt hashes (checked by the system's libcrypt), rate limits (`limit_req`) for failed logins and GraphQL,
websocket proxying for the UI's live updates, TLS, and static files for the dbt docs. Debian's Caddy (2.6)
has no rate limiting without a plugin.

The Dagster webserver and the health service listen on loopback ports only nginx reaches; nginx listens on
TASKLINE_HOST:TASKLINE_PORT and asks for a login everywhere except `/health`.
"""

import os
import pwd
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

PASSWORD_FILE = "TASKLINE_PASSWORD_FILE"
TLS_CERT, TLS_KEY = "TASKLINE_TLS_CERT", "TASKLINE_TLS_KEY"
NO_LOGIN = "TASKLINE_ALLOW_NO_LOGIN"  # the opt-out, for people whose own proxy does the login
NGINX = "TASKLINE_NGINX"
REALM = "taskline"
# hash formats nginx's auth_basic checks (libcrypt's bcrypt, Apache MD5, SHA-crypt, LDAP SHA); no plain text
HASH_PREFIXES = ("$2a$", "$2b$", "$2y$", "$apr1$", "$5$", "$6$", "{SHA}", "{SSHA}")
# failed logins per client address: a few typos pass at once, then one every 2 s, then 429
FAILED_LOGINS = "rate=30r/m", "burst=20 delay=5"
# GraphQL requests per client address: the UI's bursts pass, a script hammering mutations is held to 10/s
GRAPHQL_REQUESTS = "rate=10r/s", "burst=100 nodelay"


# set in each location that proxies (a location's own proxy_set_header drops the server's); the password
# stays with nginx
FORWARDED = (
    "proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
    ' proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header Authorization "";'
)


class ProxyError(Exception):
    """The login cannot be set up as configured; the message says what to set or fix."""


@dataclass(frozen=True)
class Login:
    """How nginx asks for a login: the users' file, the TLS certificate and key (or plain HTTP), the binary."""

    password_file: Path
    tls: tuple[Path, Path] | None
    nginx: str

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


def login_settings(environ: dict[str, str]) -> Login | None:
    """The login configured in `environ`, checked as nginx will use it; None when no password file is set."""
    tls = tls_settings(environ)
    given = environ.get(PASSWORD_FILE)
    if not given:
        if tls:
            raise ProxyError(
                f"{TLS_CERT}/{TLS_KEY} are set but {PASSWORD_FILE} is not: TLS is served by the login proxy, "
                f"so set {PASSWORD_FILE} too (add a user with `make user NAME=…`)."
            )
        return None
    password_file = Path(given).expanduser().resolve()
    read_users(password_file)
    return Login(password_file, tls, nginx_binary(environ))


def read_users(password_file: Path) -> dict[str, str]:
    """`user:hash` per line (# comments and blank lines allowed), every hash in a format nginx checks."""
    try:
        lines = password_file.read_text().splitlines()
    except OSError as error:
        raise ProxyError(
            f"the password file {password_file} ({PASSWORD_FILE}) cannot be read ({error.strerror}): create "
            "it with `make user NAME=…` or make it readable by this user."
        ) from None
    users = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, hashed = line.partition(":")
        if not name or not hashed.startswith(HASH_PREFIXES):
            raise ProxyError(
                f"line {number} of the password file {password_file} is not `user:hash` with a bcrypt (or "
                "other crypt) hash: write its users with `make user NAME=…`, never plain passwords."
            )
        users[name] = hashed
    if not users:
        raise ProxyError(
            f"the password file {password_file} ({PASSWORD_FILE}) has no users: add one with `make user NAME=…`."
        )
    return users


def tls_settings(environ: dict[str, str]) -> tuple[Path, Path] | None:
    """The certificate and key, both readable and matching each other; None when neither is set."""
    cert, key = environ.get(TLS_CERT), environ.get(TLS_KEY)
    if not cert and not key:
        return None
    if not cert or not key:
        raise ProxyError(
            f"set both {TLS_CERT} and {TLS_KEY} (the certificate and its private key), or neither."
        )
    cert_path, key_path = Path(cert).expanduser().resolve(), Path(key).expanduser().resolve()
    for path, name in ((cert_path, TLS_CERT), (key_path, TLS_KEY)):
        if not path.is_file():
            raise ProxyError(f"{path} ({name}) is not a file: point {name} at your PEM file.")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            cert_path, key_path, password=lambda: b""
        )
    except OSError as error:  # ssl.SSLError included
        raise ProxyError(tls_problem(cert_path, key_path, error)) from None
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
        return f"the TLS certificate {cert} does not match the key {key} ({TLS_CERT}/{TLS_KEY}): give the key it was issued for."
    if is_encrypted(key):
        return f"the TLS key {key} ({TLS_KEY}) is encrypted: give nginx an unencrypted key (readable by this user only)."
    return f"the TLS certificate {cert} and key {key} ({TLS_CERT}/{TLS_KEY}) cannot be used ({reason}): give a PEM certificate and its PEM key."


def nginx_binary(environ: dict[str, str]) -> str:
    """TASKLINE_NGINX when set, else nginx on the PATH or in Debian's /usr/sbin."""
    given = environ.get(NGINX)
    found = shutil.which(given) if given else shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        where = f"{NGINX}={given}" if given else "nginx (on the PATH or in /usr/sbin)"
        raise ProxyError(
            f"{where}, which asks for the login, is not an executable: install Debian's package "
            f"(`apt-get install nginx-light`) or point {NGINX} at the binary."
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


def nginx_config(
    login: Login, host: str, port: int, webserver_port: int, health_port: int, docs_dir: Path, run_dir: Path
) -> str:
    """nginx.conf: the login everywhere but /health, the UI and GraphQL (websocket too) from the webserver,
    the dbt docs under /docs/, failed logins and GraphQL requests rate-limited per client address."""
    temp_paths = "\n".join(
        f"  {kind}_temp_path {run_dir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    tls = (
        f"ssl_certificate {login.tls[0]};\n    ssl_certificate_key {login.tls[1]};\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        '    add_header Strict-Transport-Security "max-age=31536000" always;'
        if login.tls
        else ""
    )
    # a root master process hands requests to workers of this user, who must read the users' file and docs
    worker_user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.geteuid() == 0 else ""
    return f"""# written by `make serve` (orchestration/proxy.py) on every start: edit that file, not this one
daemon off;
pid {run_dir / "nginx.pid"};
error_log stderr warn;
worker_processes auto;
{worker_user}
events {{ worker_connections 1024; }}
http {{
{temp_paths}
  access_log off;
  server_tokens off;
  types {{ text/html html; text/css css; application/javascript js; application/json json;
          image/svg+xml svg; image/png png; image/x-icon ico; font/woff2 woff2; }}
  default_type application/octet-stream;
  charset utf-8;
  map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
  # GraphQL a browser cannot be tricked into sending (cross-site forms and links carry the login too):
  # POST with a JSON body, or GET without a query (the websocket, the GraphiQL page)
  map "$request_method|$content_type|$arg_query" $graphql_forgeable {{
    default 1;
    "~^POST\\|application/json" 0;
    "~^GET\\|[^|]*\\|$" 0;
  }}
  limit_req_zone $binary_remote_addr zone=failed_logins:1m {FAILED_LOGINS[0]};
  limit_req_zone $binary_remote_addr zone=graphql:1m {GRAPHQL_REQUESTS[0]};
  limit_req_status 429;
  upstream dagster_webserver {{ server 127.0.0.1:{webserver_port}; keepalive 16; }}

  server {{
    listen {listen_address(host, port)}{" ssl" if login.tls else ""};
    {tls}
    auth_basic "{REALM}";
    auth_basic_user_file {login.password_file};
    error_page 401 = @login_failed;
    proxy_http_version 1.1;

    # a failed login comes here to be counted (held or refused when too many), then answers 401 (try_files
    # runs after limit_req; a `return` would answer before it)
    location @login_failed {{
      limit_req zone=failed_logins {FAILED_LOGINS[1]};
      auth_basic off;
      root {run_dir / "nothing"};
      try_files /nothing =401;
    }}
    location = /health {{
      auth_basic off;
      proxy_pass http://127.0.0.1:{health_port}/health;
    }}
    location = /docs {{ return 301 /docs/; }}
    location /docs/ {{
      alias {docs_dir}/;
      index index.html;
    }}
    location /graphql {{
      if ($graphql_forgeable) {{ return 403; }}
      limit_req zone=graphql {GRAPHQL_REQUESTS[1]};
      proxy_pass http://dagster_webserver;
      {FORWARDED}
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 1h;
    }}
    location / {{
      proxy_pass http://dagster_webserver;
      {FORWARDED}
      proxy_set_header Connection "";
    }}
  }}
}}
"""


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
