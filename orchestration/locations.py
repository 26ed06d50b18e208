"""Where taskline keeps its dbt project, the dbt docs its runs write, and how its runs build (light: no Dagster
import)."""

import os
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
# the docs `make docs` serves: written by the run that builds the marts, never by a separate dbt process
DOCS_DIR = Path(os.environ.get("TASKLINE_DOCS_DIR", DBT_PROJECT_DIR / "target" / "docs")).resolve()
# scheduled builds leave dbt unit tests to `make test`: they check the SQL, not the data
WITHOUT_UNIT_TESTS = ("--exclude-resource-type", "unit_test")
# "true" swaps the product's (empty) task-to-table seed for the demo shop's: `make demo`, the tests, benches
DEMO_SHOP_SETTING = "TASKLINE_DEMO_SHOP"
