"""nginx.conf as `make serve` writes it, compared with checked-in expected files (tests/serve/expected/):
rendered from orchestration/serve/nginx.conf.j2 for a login with and without TLS, operators and viewers, an
IPv4 and an IPv6 address. The expected files were written by the f-string the template replaced; a change to
the configuration nginx receives shows here as a diff."""

from pathlib import Path

import pytest

from orchestration.serve import proxy
from orchestration.serve.proxy import Account, Login, Upstreams, nginx_config

EXPECTED = Path(__file__).parent / "expected"
HASH = "$2b$12$" + "a" * 53
CASES = {
    "plain_http": (
        None,
        {"ops-ci": Account(HASH, "operator"), "analyst": Account(HASH, "viewer")},
        "127.0.0.1",
        3000,
        Upstreams(41001, 41002, 41003),
    ),
    "tls_ipv6": (
        (Path("/etc/taskline/server.crt"), Path("/etc/taskline/server.key")),
        {
            "ops-ci": Account(HASH, "operator"),
            "a.b+c@x": Account(HASH, "operator"),
            "Ops": Account(HASH, "viewer"),
        },
        "::1",
        8443,
        Upstreams(42001, 42002, 42003),
    ),
    "viewers_only": (
        None,
        {"analyst": Account(HASH, "viewer")},
        "0.0.0.0",
        80,
        Upstreams(43001, 43002, 43003),
    ),
}


def rendered(case: str, run_dir: Path) -> str:
    """The configuration for `case`, its run directory (a temporary one) written RUN_DIR."""
    tls, users, host, port, upstreams = CASES[case]
    login = Login(Path("/etc/taskline/users"), tls, "/usr/sbin/nginx", "/usr/bin/caddy")
    config = nginx_config(
        login,
        users,
        host,
        port,
        upstreams,
        Path("/srv/docs"),
        Path("/srv/dashboards"),
        run_dir,
        Path("/run/caddy-0.sock"),
    )
    return config.replace(str(run_dir), "RUN_DIR")


@pytest.mark.parametrize("case", sorted(CASES))
def test_nginx_config_is_the_expected_one(case, tmp_path, monkeypatch):
    monkeypatch.setattr(proxy.os, "geteuid", lambda: 1000)

    assert rendered(case, tmp_path) == (EXPECTED / f"nginx_{case}.conf").read_text()


def test_as_root_the_workers_run_as_the_user_who_started_nginx(tmp_path, monkeypatch):
    monkeypatch.setattr(proxy.os, "geteuid", lambda: 0)
    monkeypatch.setattr(proxy.os, "getuid", lambda: 0)

    lines = rendered("plain_http", tmp_path).splitlines()

    assert lines[5] == "user root;"
    assert (EXPECTED / "nginx_plain_http.conf").read_text().splitlines()[5] == ""
