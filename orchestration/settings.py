"""taskline's settings: every environment variable it reads, with its default (light: no Dagster import)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = ROOT / "dbt_project"
# written by dbt parse when the code location loads (orchestration/dbt/project.py)
DBT_MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# the docs `make docs` serves: written by the run that builds the marts, never by a separate dbt process
DOCS_DIR = Path(os.environ.get("TASKLINE_DOCS_DIR", DBT_PROJECT_DIR / "target" / "docs")).resolve()
# "true" swaps the product's (empty) task-to-table seed for the demo shop's: `make demo`, the tests, benches
DEMO_SHOP_SETTING = "TASKLINE_DEMO_SHOP"
