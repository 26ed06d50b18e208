"""`make serve`'s login: what it refuses to start with, the warnings it gives, and `make user`."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest

from demo.stack import free_port
from orchestration import settings
from orchestration.serve import login_check
from orchestration.serve.proxy import ProxyError, Upstreams, login_settings, nginx_config, read_users
from orchestration.serve.server import ServeError, check_not_root, checked_login, serve, warn_when_root
from tests.fixtures.logins import PASSWORD, USER, self_signed_certificate, users_file
from tests.fixtures.paths import ROOT

pytestmark = pytest.mark.end_to_end

FLOWER_SETTINGS = {"SOURCES__FLOWER__USERNAME": "ops", "SOURCES__FLOWER__PASSWORD": "not-used-here"}


@pytest.fixture(scope="module")
def users(tmp_path_factory) -> Path:
    return users_file(tmp_path_factory.mktemp("login") / "users")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def users_command(
    action: str, name: str, password_file: Path | None, stdin: str = ""
) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **({settings.PASSWORD_FILE: str(password_file)} if password_file else {})}
    return subprocess.run(
        [sys.executable, "-m", "orchestration.serve.users", action, name],
        input=stdin,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serving_beyond_loopback_without_a_login_stops_before_anything_is_created(tmp_path):
    env = {**FLOWER_SETTINGS, "DAGSTER_HOME": str(tmp_path / "home")}

    with pytest.raises(ServeError) as error:
        serve("0.0.0.0", free_port(), env)

    assert str(error.value) == (
        "serving on 0.0.0.0 without a login would let anyone who reaches it launch and delete runs: set "
        "TASKLINE_PASSWORD_FILE (add users with `make user NAME=…`), or TASKLINE_ALLOW_NO_LOGIN=1 if a proxy "
        "of your own asks for the login."
    )
    assert not (tmp_path / "home").exists()


def test_the_command_beyond_loopback_without_a_login_is_one_line_and_no_traceback(tmp_path):
    env = {
        **{
            key: value
            for key, value in os.environ.items()
            if key not in (settings.PASSWORD_FILE, settings.NO_LOGIN)
        },
        **FLOWER_SETTINGS,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "TASKLINE_HOST": "0.0.0.0",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.serve", "--port", str(free_port())],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 1
    assert completed.stderr.startswith("taskline serve: serving on 0.0.0.0 without a login")
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert not (tmp_path / "home").exists()


def test_the_opt_out_serves_without_a_login_and_says_so_loudly(capsys):
    assert checked_login("0.0.0.0", {settings.NO_LOGIN: "1"}) is None

    assert capsys.readouterr().err.startswith(
        "WARNING: TASKLINE_ALLOW_NO_LOGIN=1: the Dagster UI and GraphQL API answer on 0.0.0.0 WITHOUT A LOGIN"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_on_loopback_no_login_is_needed_and_nothing_is_said(host, capsys):
    assert checked_login(host, {}) is None
    assert capsys.readouterr().err == ""


def test_a_login_over_plain_http_beyond_loopback_warns_that_passwords_cross_the_network(users, capsys):
    login = checked_login("0.0.0.0", {settings.PASSWORD_FILE: str(users)})

    assert (login.password_file, login.tls, login.scheme) == (users, None, "http")
    assert capsys.readouterr().err.startswith(
        "warning: plain HTTP on 0.0.0.0: passwords cross the network readable by anyone on the way"
    )


def test_a_login_over_tls_is_served_as_https_without_a_warning(users, certificate, capsys):
    cert, key = certificate
    login = checked_login(
        "0.0.0.0",
        {settings.PASSWORD_FILE: str(users), settings.TLS_CERT: str(cert), settings.TLS_KEY: str(key)},
    )

    assert (login.tls, login.scheme) == ((cert, key), "https")
    assert (Path(login.nginx).name, Path(login.caddy).name) == ("nginx", "caddy")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "problem,content,message",
    [
        (
            "missing",
            None,
            "the password file {file} (TASKLINE_PASSWORD_FILE) cannot be read (No such file or directory): "
            "create it with `make user NAME=…` or make it readable by this user.",
        ),
        (
            "a directory",
            "dir",
            "the password file {file} (TASKLINE_PASSWORD_FILE) cannot be read (Is a directory): create it with "
            "`make user NAME=…` or make it readable by this user.",
        ),
        (
            "empty",
            "# nobody yet\n\n",
            "the password file {file} (TASKLINE_PASSWORD_FILE) has no users: add one with `make user NAME=…`.",
        ),
        (
            "a plain password",
            "# ops\nops:hunter2-plain\n",
            "line 2 of the password file {file} is not `user:hash` with a bcrypt hash: write its users with "
            "`make user NAME=…`, never plain passwords.",
        ),
        (
            "an Apache MD5 hash (nginx checked it, Caddy does not)",
            "ops:$apr1$hunter2$5Vf8T2Jz0x0V3bq8o6nKx/:operator\n",
            "line 1 of the password file {file} is not `user:hash` with a bcrypt hash: write its users with "
            "`make user NAME=…`, never plain passwords.",
        ),
        (
            "a truncated bcrypt hash",
            "ops:$2b$10$hunter2hunter2hunter2h:operator\n",
            "line 1 of the password file {file} is not `user:hash` with a bcrypt hash: write its users with "
            "`make user NAME=…`, never plain passwords.",
        ),
    ],
)
def test_a_password_file_nginx_could_not_use_stops_with_what_to_fix(problem, content, message, tmp_path):
    password_file = tmp_path / "users"
    if content == "dir":
        password_file.mkdir()
    elif content is not None:
        password_file.write_text(content)

    with pytest.raises(ServeError) as error:
        checked_login("0.0.0.0", {settings.PASSWORD_FILE: str(password_file)})

    assert str(error.value) == message.format(file=password_file)
    assert "hunter2" not in str(error.value)


def encrypted_key(directory: Path) -> Path:
    key = directory / "encrypted.key"
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-aes256",
            "-pass",
            "pass:secret-phrase",
            "-out",
            str(key),
        ],
        check=True,
        capture_output=True,
    )
    return key


def test_tls_files_nginx_could_not_use_stop_with_what_to_fix(users, certificate, tmp_path):
    cert, key = certificate
    _, other_key = self_signed_certificate(tmp_path, "other")
    (tmp_path / "garbage.crt").write_text("not a certificate\n")
    cases = {
        (str(cert), str(other_key)): (
            f"the TLS certificate {cert} does not match the key {other_key} (TASKLINE_TLS_CERT/TASKLINE_TLS_KEY): "
            "give the key it was issued for."
        ),
        (str(cert), str(encrypted_key(tmp_path))): (
            f"the TLS key {tmp_path / 'encrypted.key'} (TASKLINE_TLS_KEY) is encrypted: give nginx an "
            "unencrypted key (readable by this user only)."
        ),
        (str(tmp_path / "missing.crt"), str(key)): (
            f"{tmp_path / 'missing.crt'} (TASKLINE_TLS_CERT) is not a file: point TASKLINE_TLS_CERT at your PEM file."
        ),
        (str(cert), str(tmp_path)): (
            f"{tmp_path} (TASKLINE_TLS_KEY) is not a file: point TASKLINE_TLS_KEY at your PEM file."
        ),
        (str(cert), ""): (
            "set both TASKLINE_TLS_CERT and TASKLINE_TLS_KEY (the certificate and its private key), or neither."
        ),
    }
    for (given_cert, given_key), message in cases.items():
        with pytest.raises(ServeError) as error:
            checked_login(
                "0.0.0.0",
                {
                    settings.PASSWORD_FILE: str(users),
                    settings.TLS_CERT: given_cert,
                    settings.TLS_KEY: given_key,
                },
            )
        assert str(error.value) == message

    with pytest.raises(ServeError) as error:
        checked_login(
            "0.0.0.0",
            {
                settings.PASSWORD_FILE: str(users),
                settings.TLS_CERT: str(tmp_path / "garbage.crt"),
                settings.TLS_KEY: str(key),
            },
        )
    assert str(error.value).startswith(f"the TLS certificate {tmp_path / 'garbage.crt'} and key {key} ")
    assert str(error.value).endswith(": give a PEM certificate and its PEM key.")


def test_tls_without_a_password_file_stops_because_the_login_proxy_serves_it(certificate):
    cert, key = certificate

    with pytest.raises(ServeError) as error:
        checked_login("127.0.0.1", {settings.TLS_CERT: str(cert), settings.TLS_KEY: str(key)})

    assert str(error.value) == (
        "TASKLINE_TLS_CERT/TASKLINE_TLS_KEY are set but TASKLINE_PASSWORD_FILE is not: TLS is served by the login "
        "proxy, so set TASKLINE_PASSWORD_FILE too (add a user with `make user NAME=…`)."
    )


def test_an_nginx_that_is_not_there_stops_with_how_to_install_it(users, tmp_path):
    with pytest.raises(ServeError) as error:
        checked_login(
            "0.0.0.0", {settings.PASSWORD_FILE: str(users), settings.NGINX: str(tmp_path / "nginx")}
        )

    assert str(error.value) == (
        f"TASKLINE_NGINX={tmp_path / 'nginx'}, which asks for the login, is not an executable: install Debian's "
        "package (`apt-get install nginx-light`) or point TASKLINE_NGINX at the binary."
    )


def test_a_caddy_that_is_not_there_stops_with_how_to_install_it(users, tmp_path, monkeypatch):
    with pytest.raises(ServeError) as error:
        checked_login(
            "0.0.0.0", {settings.PASSWORD_FILE: str(users), settings.CADDY: str(tmp_path / "caddy")}
        )

    assert str(error.value) == (
        f"TASKLINE_CADDY={tmp_path / 'caddy'}, which checks the passwords, is not an executable: install "
        "Debian's package (`apt-get install caddy`) or point TASKLINE_CADDY at the binary."
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # nginx is still found in /usr/sbin
    with pytest.raises(ServeError) as error:
        checked_login("0.0.0.0", {settings.PASSWORD_FILE: str(users)})
    assert str(error.value) == (
        "caddy (on the PATH), which checks the passwords, is not an executable: install Debian's package "
        "(`apt-get install caddy`) or point TASKLINE_CADDY at the binary."
    )


def test_an_nginx_without_its_js_module_stops_with_how_to_install_it(users, tmp_path, monkeypatch):
    monkeypatch.setattr(login_check, "NJS_MODULE", str(tmp_path / "ngx_http_js_module.so"))

    with pytest.raises(ServeError) as error:
        checked_login("0.0.0.0", {settings.PASSWORD_FILE: str(users)})

    assert str(error.value) == (
        f"nginx's js module {tmp_path / 'ngx_http_js_module.so'}, which gives unknown names the cost of known "
        "ones, is missing: install Debian's package (`apt-get install libnginx-mod-http-js`)."
    )


def test_the_role_comes_from_the_user_caddy_verified_and_names_are_compared_exactly(users, tmp_path):
    """The webserver a request reaches is chosen by the name Caddy answers (X-Taskline-User, after the
    password), never by the name the request claims; an operator `ops-ci` makes no `OPS-CI` one."""
    login = checked_login("127.0.0.1", {settings.PASSWORD_FILE: str(users)})
    socket = login_check.caddy_socket(tmp_path, 0)

    config = nginx_config(
        login, read_users(users), "127.0.0.1", 3000, Upstreams(1, 2, 3), tmp_path, tmp_path, tmp_path, socket
    )

    assert "$remote_user" not in config and "auth_basic" not in config
    assert "auth_request_set $login_user $upstream_http_x_taskline_user;" in config
    assert (
        "  map $login_user $role_webserver {\n    default viewer_webserver;\n"
        '    "~^ops\\-ci$" operator_webserver;\n  }'
    ) in config
    assert f"proxy_pass http://unix:{socket}:/check;" in config
    assert (tmp_path / "login_check.js").read_text().startswith("// written by `make serve`")
    assert 'var KNOWN = ["ops-ci"];' in (tmp_path / "login_check.js").read_text()
    assert stat.S_IMODE((tmp_path / "login_check.js").stat().st_mode) == 0o600


def test_make_user_adds_changes_and_removes_logins_in_a_file_only_its_owner_reads(tmp_path):
    password_file = tmp_path / "etc" / "users"

    added = users_command("add", "ana", password_file, "first-password-of-ana\n")
    assert (added.returncode, added.stdout) == (0, f"ana: added or changed in {password_file}\n")
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert users_command("add", "bo", password_file, "password-of-bo-12\n").returncode == 0
    first = login_settings({settings.PASSWORD_FILE: str(password_file)})
    hashes = dict(line.split(":")[:2] for line in password_file.read_text().splitlines())
    assert list(hashes) == ["ana", "bo"] and first.password_file == password_file
    assert bcrypt.checkpw(b"first-password-of-ana", hashes["ana"].encode())
    assert hashes["ana"].startswith("$2b$10$")

    assert users_command("add", "ana", password_file, "second-password-of-ana\n").returncode == 0
    changed = dict(line.split(":")[:2] for line in password_file.read_text().splitlines())
    assert bcrypt.checkpw(b"second-password-of-ana", changed["ana"].encode())
    assert not bcrypt.checkpw(b"first-password-of-ana", changed["ana"].encode())
    assert changed["bo"] == hashes["bo"]

    removed = users_command("remove", "bo", password_file)
    assert (removed.returncode, removed.stdout) == (0, f"bo: removed in {password_file}\n")
    assert list(dict(line.split(":")[:2] for line in password_file.read_text().splitlines())) == ["ana"]
    assert "password" not in password_file.read_text()


@pytest.mark.parametrize(
    "action,name,stdin,message",
    [
        ("add", "ana", "too-short\n", "the password is shorter than 12 characters: choose a longer one."),
        (
            "add",
            "ana:admin",
            "a-long-enough-password\n",
            "the user name 'ana:admin' is not 1-64 letters, digits and ._@+- (no ':' or spaces): choose another.",
        ),
        ("remove", "nobody", "", "{file} has no user nobody: nothing changed."),
        ("remove", USER, "", "{USER} is the last user of {file}: add another before removing them."),
        (
            "add",
            "ana",
            "a-long-enough-password\n",
            "set TASKLINE_PASSWORD_FILE to the users' file (e.g. /etc/taskline/users).",
        ),
    ],
)
def test_make_user_refuses_what_would_weaken_or_lock_out_the_login(action, name, stdin, message, tmp_path):
    password_file = users_file(tmp_path / "users")
    before = password_file.read_text()
    given = None if message.startswith("set TASKLINE_PASSWORD_FILE") else password_file

    completed = users_command(action, name, given, stdin)

    assert completed.returncode == 1
    assert completed.stderr == f"taskline users: {message.format(file=password_file, USER=USER)}\n"
    assert password_file.read_text() == before
    assert PASSWORD not in completed.stdout + completed.stderr


@pytest.mark.parametrize("secret", ["password file", "TLS key"])
def test_a_secret_other_users_can_read_is_refused_with_the_chmod_that_mends_it(
    secret, users, certificate, tmp_path
):
    cert, key = certificate
    exposed = tmp_path / ("users" if secret == "password file" else "server.key")
    exposed.write_bytes((users if secret == "password file" else key).read_bytes())
    exposed.chmod(0o644)
    setting = {"password file": settings.PASSWORD_FILE, "TLS key": settings.TLS_KEY}[secret]
    env = {
        settings.PASSWORD_FILE: str(users),
        settings.TLS_CERT: str(cert),
        settings.TLS_KEY: str(key),
        setting: str(exposed),
    }

    with pytest.raises(ServeError) as error:
        checked_login("0.0.0.0", env)

    assert str(error.value) == (
        f"the {secret} ({setting}) {exposed} can be read by other users of this machine (mode 0644): make it "
        f"yours alone with `chmod 600 {exposed}`."
    )
    exposed.chmod(0o600)
    assert checked_login("0.0.0.0", env) is not None


@pytest.mark.parametrize("port", ["99999", "0", "http", "-1"])
def test_a_port_that_is_no_port_is_one_sentence(port, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.serve"],
        env={**os.environ, **FLOWER_SETTINGS, "TASKLINE_PORT": port, "DAGSTER_HOME": str(tmp_path / "home")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 1
    assert completed.stderr == (
        f"taskline serve: the port {port!r} (--port or TASKLINE_PORT) is not a number from 1 to 65535.\n"
    )


def test_started_as_root_it_refuses_unless_told_to_accept_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    for setting, value in FLOWER_SETTINGS.items():
        monkeypatch.setenv(setting, value)  # the sources are read from the environment
    env = {**FLOWER_SETTINGS, "DAGSTER_HOME": str(tmp_path / "home")}

    with pytest.raises(ServeError) as error:
        serve("127.0.0.1", free_port(), env)

    assert str(error.value) == (
        "started as root, every run and the login proxy's workers would run as root: start it as an unprivileged "
        "user (e.g. `sudo -u taskline make serve`), or set TASKLINE_ALLOW_ROOT=1 to accept that."
    )
    assert not (tmp_path / "home").exists()
    check_not_root({"TASKLINE_ALLOW_ROOT": "1"})
    warn_when_root()
    assert (
        capsys.readouterr().err
        == "warning: TASKLINE_ALLOW_ROOT=1: running as root; every run executes as root.\n"
    )


def test_make_user_gives_roles_viewer_by_default(tmp_path):
    password_file = tmp_path / "users"
    assert users_command("add", "analyst", password_file, "a-long-password-123\n").returncode == 0
    assert users_command("add", "ops", password_file, "a-long-password-456\n").returncode == 0
    promoted = users_command("role", "ops", password_file)
    assert promoted.returncode == 1 and "give the role" in promoted.stderr
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.serve.users", "role", "ops", "operator"],
        env={"PATH": "/usr/bin:/bin", settings.PASSWORD_FILE: str(password_file)},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert completed.stdout == f"ops: now operator in {password_file}\n"
    users = read_users(password_file)
    assert {name: account.role for name, account in users.items()} == {"analyst": "viewer", "ops": "operator"}
    # a new password keeps the role; a file written before roles existed reads as viewers
    assert users_command("add", "ops", password_file, "a-long-password-789\n").returncode == 0
    assert read_users(password_file)["ops"].role == "operator"
    password_file.write_text("old:" + users["analyst"].hashed + "\n")
    assert read_users(password_file)["old"].role == "viewer"
    password_file.write_text("old:" + users["analyst"].hashed + ":admin\n")
    with pytest.raises(ProxyError, match="gives old the role 'admin': a role is viewer or operator"):
        read_users(password_file)
