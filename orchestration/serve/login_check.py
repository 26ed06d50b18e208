"""The password check of `make serve`'s login, off nginx's workers (issue 28, item 4): the one module that
knows Caddy and nginx's js module; orchestration/serve/proxy.py puts its nginx lines in nginx.conf and
orchestration/serve/server.py runs Caddy.

nginx's own `auth_basic` runs bcrypt inside its (few, blocking) workers, before any rate limit: a flood of
wrong passwords stalls every other user, and an unknown name answers at once while a known one costs a
bcrypt. Here nginx no longer checks passwords itself:

    client ──> nginx (public server)  auth_request /_login_check  (a subrequest: the worker never blocks)
                 └─> nginx (gate server, unix socket, same process)
                       limit_conn per client address   ── full: no check; the answer (429) leaves at
                                                          REFUSAL_RATE per address, so a flood waits
                                                          instead of spinning through refusals
                       └─> Caddy (Debian's, unix socket): http_basic over the users' bcrypt hashes, checked
                           in goroutines, results cached in memory (hash_cache), GOMAXPROCS=1 so checks
                           never take more than one core; a good login answers 204 + X-Taskline-User
                       a failed check is held (limit_req with delay, per client address) *inside* its
                       limit_conn slot, so an address has at most LOGIN_SLOTS checks in flight and, once
                       its burst is spent, one check per FAILED_RATE: the rate limit applies before the
                       next password is checked, and a cached good login never waits for it

The role nginx picks the webserver by is that of the user Caddy names (X-Taskline-User), never of the name
the request claims.

Unknown names: Caddy compares them against its built-in fake hash, bcrypt cost 14 (16x the work of a
`make user` hash: an unknown name answers far slower, a name oracle). nginx's js module (njs, `libnginx-mod-http-js`) therefore
checks every login whose name is not in the users' file (compared exactly) as DECOY, an account with a
random password hashed at the users' cost, with the whole `name:password` as the password: a wrong password
costs one bcrypt at the same cost for any name, and is cached per name and password for any name (were it
cached per password only, a repeated password would answer fast for unknown names only).

Nothing here writes a password or an Authorization header anywhere: Caddy's cache is in memory, its
admin endpoint is off and its config is never autosaved; nginx and Caddy log no requests (and the limits
log below nginx's `warn`). Caddy reads the users at start, and the njs script holds the known names: when
the users' file changes, `make serve` starts a Caddy on a new socket, points nginx at it (and the new names)
with a reload, then stops the old one.
"""

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from orchestration import settings
from orchestration.serve.proxy import REALM, Account, ProxyError

NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
# the account unknown names are checked against; a tab is no character `make user` accepts in a name
DECOY = "\tunknown"
# checks in flight per client address: a browser opens at most 6 connections, a CI script one or two
LOGIN_SLOTS = 16
# failed checks per client address: a few typos answer at once, then one every 2 s (held, not refused)
FAILED_RATE, FAILED_BURST, FAILED_DELAY = "30r/m", 40, 5
# refused checks (the address has LOGIN_SLOTS in flight) answer 429 at this rate per address, the rest wait
REFUSAL_RATE, REFUSAL_BURST = "2r/s", 100
# a held failure waits at most (FAILED_BURST - FAILED_DELAY) / rate = 70 s; the subrequest waits longer
CHECK_TIMEOUT_S = 90
USER_HEADER = "X-Taskline-User"
# nginx's variable holding the user Caddy verified (empty before the check, or without a login)
VERIFIED_USER = "$login_user"


def caddy_binary(environ: dict[str, str]) -> str:
    """TASKLINE_CADDY when set, else caddy on the PATH (Debian's package puts it in /usr/bin)."""
    given = settings.read(settings.CADDY, environ)
    found = shutil.which(given) if given else shutil.which("caddy")
    if found is None:
        where = f"{settings.CADDY}={given}" if given else "caddy (on the PATH)"
        raise ProxyError(
            f"{where}, which checks the passwords, is not an executable: install Debian's package "
            f"(`apt-get install caddy`) or point {settings.CADDY} at the binary."
        )
    return found


def check_njs_module() -> None:
    if not os.path.isfile(NJS_MODULE):
        raise ProxyError(
            f"nginx's js module {NJS_MODULE}, which gives unknown names the cost of known ones, is missing: "
            "install Debian's package (`apt-get install libnginx-mod-http-js`)."
        )


def decoy_hash(users: dict[str, Account]) -> str:
    """A bcrypt hash of a random password nobody knows, at the cost most users' hashes have."""
    costs = [int(account.hashed[4:6]) for account in users.values()]
    cost = max(set(costs), key=costs.count)
    return bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(cost)).decode()


def caddy_config(users: dict[str, Account], socket: Path) -> dict:
    """Caddy's JSON config: one server on a unix socket answering 204 + X-Taskline-User for a good login,
    401 otherwise. Admin endpoint off, config never persisted, no access log, no TLS."""
    provider = {
        "hash": {"algorithm": "bcrypt"},
        "hash_cache": {},
        "realm": REALM,
        "accounts": [{"username": name, "password": account.hashed} for name, account in users.items()]
        + [{"username": DECOY, "password": decoy_hash(users)}],
    }
    # nobody knows the decoy's password; should its check ever pass, it still is no login
    decoy_refused = {
        "match": [{"vars": {"{http.auth.user.id}": [DECOY]}}],
        "handle": [{"handler": "static_response", "status_code": 401}],
        "terminal": True,
    }
    logged_in = {
        "handle": [
            {"handler": "headers", "response": {"set": {USER_HEADER: ["{http.auth.user.id}"]}}},
            {"handler": "static_response", "status_code": 204},
        ]
    }
    return {
        "admin": {"disabled": True, "config": {"persist": False}},
        "logging": {"logs": {"default": {"level": "ERROR"}}},
        "apps": {
            "http": {
                "servers": {
                    "login_check": {
                        "listen": [f"unix/{socket}"],
                        "automatic_https": {"disable": True},
                        "routes": [
                            {
                                "handle": [
                                    {"handler": "authentication", "providers": {"http_basic": provider}},
                                    {"handler": "subroute", "routes": [decoy_refused, logged_in]},
                                ]
                            }
                        ],
                    }
                }
            }
        },
    }


def caddy_socket(run_dir: Path, generation: int) -> Path:
    """Each start of Caddy (one per version of the users' file) listens on a socket of its own, so nginx
    moves to the new one with a reload while the old one still answers the checks in flight."""
    return run_dir / f"login-check-{generation}.sock"


def write_caddy_config(users: dict[str, Account], socket: Path) -> Path:
    """Caddy's config beside its socket, owner-only (it holds the same hashes as the users' file)."""
    path = socket.with_suffix(".json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(caddy_config(users, socket), file)
    return path


def caddy_command(caddy: str, config: Path) -> list[str]:
    return [caddy, "run", "--config", str(config)]


def caddy_environment(env: dict[str, str], run_dir: Path) -> dict[str, str]:
    """One core at most for bcrypt; Caddy's own files (it writes none with this config) under run_dir."""
    for directory in ("caddy-config", "caddy-data"):
        (run_dir / directory).mkdir(mode=0o700, exist_ok=True)
    return {
        **env,
        "GOMAXPROCS": "1",
        "HOME": str(run_dir),
        "XDG_CONFIG_HOME": str(run_dir / "caddy-config"),
        "XDG_DATA_HOME": str(run_dir / "caddy-data"),
    }


NJS_SCRIPT = """// written by `make serve` (orchestration/serve/login_check.py): a name not in the users' file is checked as
// DECOY's, so a wrong password costs the same bcrypt whether the name exists or not
var KNOWN = %s;
var DECOY = %s;
function authorization(r) {
    var header = r.headersIn.Authorization || '';
    var given = /^Basic[ ]+([A-Za-z0-9+\\/=]+)[ ]*$/i.exec(header);
    if (!given) {
        return header;
    }
    var raw = Buffer.from(given[1], 'base64');
    var colon = raw.indexOf(58);
    if (colon < 0 || KNOWN.indexOf(raw.slice(0, colon).toString()) >= 0) {
        return header;
    }
    // the whole "name:password" becomes the decoy's password: Caddy caches per (hash, password), so the
    // same wrong password under two unknown names is two misses, as under two known names
    return 'Basic ' + Buffer.concat([Buffer.from(DECOY + ':'), raw]).toString('base64');
}
export default {authorization};
"""


def write_njs(users: dict[str, Account], run_dir: Path) -> Path:
    """The names are compared exactly (nginx's `map` would compare them case-insensitively)."""
    path = run_dir / "login_check.js"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(NJS_SCRIPT % (json.dumps(list(users)), json.dumps(DECOY)))
    return path


@dataclass(frozen=True)
class NginxLines:
    main: str  # top level, before `events`
    http: str  # inside `http {`, outside any server
    server: str  # inside the public server: the check every location but /health asks for
    unauthenticated: str  # inside locations that need no login (/health)


def nginx_lines(users: dict[str, Account], run_dir: Path, caddy: Path) -> NginxLines:
    """The directives that send every login to Caddy (listening on `caddy`) through the gate (see the
    module's docstring); writes the njs script they load."""
    gate = run_dir / "login-gate.sock"
    return NginxLines(
        main=f"load_module {NJS_MODULE};",
        http=gate_lines(write_njs(users, run_dir), run_dir, gate, caddy),
        server=checked_server_lines(gate),
        unauthenticated="auth_request off;",
    )


def gate_lines(njs: Path, run_dir: Path, gate: Path, caddy: Path) -> str:
    """Inside `http {`: the njs script's import, the limits' zones and the gate server on `gate`, which asks
    Caddy (on `caddy`) and holds failed and refused checks."""
    return f"""js_import login_check from {njs};
  js_set $login_authorization login_check.authorization;
  limit_conn_zone $http_x_taskline_client zone=login_checks:1m;
  # a request without a password (a browser's first, before the login prompt's answer) checks nothing: it
  # is not counted among an address's failed checks, which would otherwise hold its user's real login
  map $http_authorization $failed_check_client {{ "" ""; default $http_x_taskline_client; }}
  limit_req_zone $failed_check_client zone=failed_checks:1m rate={FAILED_RATE};
  limit_req_zone $http_x_taskline_client zone=refusals:1m rate={REFUSAL_RATE};
  # the gate: only nginx itself connects (a socket in the run directory); every check of every request
  # passes here, as a main request of its own, so its limits count checks, not the requests behind them
  server {{
    listen unix:{gate};
    location = /check {{
      limit_conn login_checks {LOGIN_SLOTS};
      limit_conn_status 403;  # auth_request passes 401/403 on quietly (other codes are logged errors)
      limit_conn_log_level info;  # below error_log's level: a flood does not flood the log
      proxy_pass http://unix:{caddy}:/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Taskline-Client "";
      proxy_intercept_errors on;
      error_page 401 = @failed_check;
    }}
    # a failed check waits here, inside its limit_conn slot, when its address fails too often
    location @failed_check {{
      limit_req zone=failed_checks burst={FAILED_BURST} delay={FAILED_DELAY};
      limit_req_status 403;
      limit_req_log_level info;
      add_header WWW-Authenticate 'Basic realm="{REALM}"' always;
      root {run_dir / "nothing"};
      try_files /nothing =401;
    }}
    # refusals leave at REFUSAL_RATE per address, the others wait (up to REFUSAL_BURST of them)
    location = /refused {{
      limit_req zone=refusals burst={REFUSAL_BURST};
      limit_req_status 429;
      limit_req_log_level info;
      root {run_dir / "nothing"};
      try_files /nothing =429;
    }}
  }}"""


def checked_server_lines(gate: Path) -> str:
    """Inside the public server: every request's login asked of the gate, refusals held there a while."""
    return f"""auth_request /_login_check;
    auth_request_set {VERIFIED_USER} $upstream_http_{USER_HEADER.lower().replace("-", "_")};
    auth_request_set $login_status $upstream_status;
    # the gate's 403 is "too many checks from this address": the gate holds the answer (429) a while, so
    # a flood's connections wait instead of spinning through refusals; any other 403 stays a 403
    error_page 403 = /_login_refused;
    location = /_login_refused {{
      internal;
      auth_request off;
      if ($login_status != 403) {{ return 403; }}
      proxy_pass http://unix:{gate}:/refused;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Authorization "";
      proxy_set_header X-Taskline-Client $remote_addr;
      proxy_read_timeout {CHECK_TIMEOUT_S}s;
    }}
    location = /_login_check {{
      internal;
      proxy_pass http://unix:{gate}:/check;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Authorization $login_authorization;
      proxy_set_header X-Taskline-Client $remote_addr;
      proxy_read_timeout {CHECK_TIMEOUT_S}s;
    }}"""
