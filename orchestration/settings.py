"""taskline's settings: every environment variable its orchestration reads, with its default (light: no Dagster
import, so `make serve`'s checks and the tests import it cheaply).

Every other module of orchestration/ reads its settings here, when it needs them: `read(NAME)` (or
`read(NAME, environ)` for a settings mapping a caller holds, e.g. the environment `make serve` hands its
processes) gives the value at call time, or the default. `SETTINGS` lists them all (README's "Configuration"
table names the same ones, plus the dlt settings of the sources and the warehouse; tests/test_settings.py
compares them). Writing the environment of this process or of a child (dbt's, a run's) stays where it happens.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = ROOT / "dbt_project"
# written by dbt parse when the code location loads (orchestration/dbt/project.py)
DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


@dataclass(frozen=True)
class Setting:
    """An environment variable taskline reads: its name, its default (None: unset), what it is."""

    name: str
    default: str | None
    about: str


# the warehouse
WAREHOUSE = "TASKLINE_WAREHOUSE"
DUCKDB_PATH = "DUCKDB_PATH"
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
WAREHOUSE_LOCK_TIMEOUT_S = "TASKLINE_WAREHOUSE_LOCK_TIMEOUT_S"
# schedules
FLOWER_CAPTURE_SCHEDULE = "TASKLINE_FLOWER_CAPTURE_SCHEDULE"
FLOWER_MARTS_SCHEDULE = "TASKLINE_FLOWER_MARTS_SCHEDULE"
SQLFLOW_SCHEDULE = "TASKLINE_SQLFLOW_SCHEDULE"
# alerts
SLACK_WEBHOOK_URL = "TASKLINE_SLACK_WEBHOOK_URL"
WEBHOOK_URL = "TASKLINE_WEBHOOK_URL"
UI_URL = "TASKLINE_UI_URL"
OWNER_SLACK_WEBHOOK_URLS = "TASKLINE_OWNER_SLACK_WEBHOOK_URLS"
OWNER_WEBHOOK_URLS = "TASKLINE_OWNER_WEBHOOK_URLS"
# dbt
DBT_VARS = "TASKLINE_DBT_VARS"
# `make serve`
HOST = "TASKLINE_HOST"
PORT = "TASKLINE_PORT"
WORKSPACE = "TASKLINE_WORKSPACE"
PASSWORD_FILE = "TASKLINE_PASSWORD_FILE"
TLS_CERT, TLS_KEY = "TASKLINE_TLS_CERT", "TASKLINE_TLS_KEY"
NO_LOGIN = "TASKLINE_ALLOW_NO_LOGIN"  # the opt-out, for people whose own proxy does the login
ALLOW_ROOT = "TASKLINE_ALLOW_ROOT"
NGINX = "TASKLINE_NGINX"
CADDY = "TASKLINE_CADDY"
HEALTH_HEARTBEAT_TOLERANCE_S = "TASKLINE_HEALTH_HEARTBEAT_TOLERANCE_S"
DAGSTER_HOME = "DAGSTER_HOME"
# the names the dagster.yaml of README's "Dagster's instance on PostgreSQL" reads with {env: NAME}
DAGSTER_PG = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_DB",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
)
# dbt's docs and seed
DOCS_DIR_SETTING = "TASKLINE_DOCS_DIR"
DOCS_PORT = "DBT_DOCS_PORT"
# "true" swaps the product's (empty) task-to-table seed for the demo shop's: `make demo`, the tests, benches
DEMO_SHOP_SETTING = "TASKLINE_DEMO_SHOP"
# the dashboards (Evidence, dashboards/)
DASHBOARDS_DIR_SETTING = "TASKLINE_DASHBOARDS_DIR"
DASHBOARDS_SCHEDULE = "TASKLINE_DASHBOARDS_SCHEDULE"
DASHBOARDS_PORT = "TASKLINE_DASHBOARDS_PORT"

SETTINGS = (
    Setting(
        WAREHOUSE, "duckdb", "warehouse engine: duckdb, or postgres (at DESTINATION__POSTGRES__CREDENTIALS)"
    ),
    Setting(DUCKDB_PATH, DEFAULT_WAREHOUSE, "the DuckDB warehouse file (dlt and dbt)"),
    # longer than a large load or dbt build, shorter than a pile-up of scheduled runs
    Setting(WAREHOUSE_LOCK_TIMEOUT_S, "1800", "seconds a writing step waits for another"),
    Setting(FLOWER_CAPTURE_SCHEDULE, "*/5 * * * *", "cron of the Flower capture"),
    Setting(FLOWER_MARTS_SCHEDULE, "*/15 * * * *", "cron of the Flower marts"),
    Setting(SQLFLOW_SCHEDULE, "0 * * * *", "cron of the SQLFlow load"),
    Setting(SLACK_WEBHOOK_URL, None, "Slack incoming webhook for alerts and taskline's own failures"),
    Setting(WEBHOOK_URL, None, "JSON webhook for alerts and taskline's own failures"),
    Setting(
        OWNER_SLACK_WEBHOOK_URLS,
        None,
        "owners' Slack webhooks, `owner=URL` separated by spaces (seed task_owners names the owners)",
    ),
    Setting(OWNER_WEBHOOK_URLS, None, "owners' JSON webhooks, `owner=URL` separated by spaces"),
    Setting(
        UI_URL, None, "the UI's address in those messages' links (default http://TASKLINE_HOST:TASKLINE_PORT)"
    ),
    Setting(HOST, "127.0.0.1", "UI address of `make serve`"),
    Setting(PORT, "3000", "UI port of `make serve`"),
    Setting(WORKSPACE, None, "the workspace.yaml of the code servers `make serve` uses"),
    Setting(PASSWORD_FILE, None, "the users' file of `make serve`'s login"),
    Setting(TLS_CERT, None, "PEM certificate of `make serve`'s HTTPS"),
    Setting(TLS_KEY, None, "unencrypted PEM key of `make serve`'s HTTPS"),
    Setting(NO_LOGIN, None, "1: serve beyond loopback without a login"),
    Setting(ALLOW_ROOT, None, "1: let `make serve` run as root"),
    Setting(NGINX, None, "the nginx binary of the login (default nginx on the PATH or in /usr/sbin)"),
    Setting(CADDY, None, "the Caddy binary that checks the passwords (default caddy on the PATH)"),
    # Dagster's own 1800 s is longer than a full Flower lasts at 70 tasks/s (100,000 / 70 = 24 min)
    Setting(
        HEALTH_HEARTBEAT_TOLERANCE_S,
        "120",
        "seconds past the heartbeat before /health counts a daemon stopped",
    ),
    Setting(DAGSTER_HOME, None, "Dagster's instance directory (default .dagster_home/ in the project)"),
    *(
        Setting(name, None, "Dagster's instance database, as dagster.yaml names it ({env: NAME})")
        for name in DAGSTER_PG
    ),
    Setting(DOCS_DIR_SETTING, str(DBT_PROJECT_DIR / "target" / "docs"), "where runs write the dbt docs"),
    Setting(DOCS_PORT, "8580", "port of `make docs`"),
    Setting(
        DBT_VARS, None, "dbt vars every build uses over dbt_project.yml's, as YAML: `{stuck_min_minutes: 60}`"
    ),
    Setting(DEMO_SHOP_SETTING, None, "true: the demo shop's task-to-table map instead of yours"),
    Setting(
        DASHBOARDS_DIR_SETTING,
        str(ROOT / "data" / "dashboards"),
        "where runs build the dashboards (the site served is its `site/`)",
    ),
    # after the marts' own schedule, so a build shows what they just rebuilt
    Setting(DASHBOARDS_SCHEDULE, "5-59/15 * * * *", "cron of the dashboards' build"),
    Setting(DASHBOARDS_PORT, "8581", "port of `make dashboards`"),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}

# the warehouse's settings taskline leaves to dlt (dlt's own names; dlt resolves them, from the environment or
# .dlt/). The sources' settings are their typed dlt configs: sources/flower/settings.py, sources/sqlflow/settings.py
POSTGRES_CREDENTIALS = "DESTINATION__POSTGRES__CREDENTIALS"
DUCKDB_GLOBAL_CONFIG = "DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG"
DLT_SETTINGS = (POSTGRES_CREDENTIALS, DUCKDB_GLOBAL_CONFIG)


def environment() -> dict[str, str]:
    """A copy of this process's environment now: the settings mapping handed to `make serve`'s checks and to
    the processes it starts."""
    return dict(os.environ)


def read(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The setting `name` in `environ` (this process's environment when None) at call time, else its default."""
    setting = BY_NAME[name]  # a KeyError: a setting missing from SETTINGS
    return (os.environ if environ is None else environ).get(name, setting.default)


def named(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A variable a configuration file names (dagster.yaml's `{env: NAME}`), None when unset."""
    return (os.environ if environ is None else environ).get(name)


def value(name: str, environ: Mapping[str, str] | None = None) -> str:
    """`read` for a setting that has a default."""
    given = read(name, environ)
    if given is None:
        raise KeyError(f"{name} has no default")
    return given


def heartbeat_tolerance_s() -> float:
    return float(value(HEALTH_HEARTBEAT_TOLERANCE_S))


def dashboards_dir() -> Path:
    """Where runs build the dashboards: `site/` is what `make serve` and `make dashboards` serve."""
    return Path(value(DASHBOARDS_DIR_SETTING)).resolve()


def docs_dir() -> Path:
    """The dbt docs `make docs` serves: written by the run that builds the marts, never by a separate dbt
    process."""
    return Path(value(DOCS_DIR_SETTING)).resolve()
