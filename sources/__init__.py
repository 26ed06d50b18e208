"""Pure dlt sources of taskline (no Dagster here)."""
