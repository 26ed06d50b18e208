"""Where taskline keeps its dbt project and the dbt docs its runs write (light: no Dagster import)."""

import os
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
# the docs `make docs` serves: written by the run that builds the marts, never by a separate dbt process
DOCS_DIR = Path(os.environ.get("TASKLINE_DOCS_DIR", DBT_PROJECT_DIR / "target" / "docs")).resolve()
