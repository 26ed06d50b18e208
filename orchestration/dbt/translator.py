"""How dbt nodes look in Dagster: assets grouped by layer, dbt tests as asset checks that say what they check."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

# what a dbt test checks, for the descriptions of the asset checks it becomes
TEST_PURPOSES = {
    "not_null": "fails for every row where `{column}` is null",
    "unique": "fails for every value of `{column}` that occurs more than once",
    "accepted_values": "fails for every value of `{column}` outside the accepted list",
    "relationships": "fails for every `{column}` without a match in the model it refers to",
    "accepted_range": "fails for every value of `{column}` outside its accepted range",
    "unique_combination_of_columns": "fails for every combination of the key columns that occurs twice",
}


class LayerTranslator(DagsterDbtTranslator):
    """Groups dbt assets by layer (staging, intermediate, marts, seeds) so the graph reads left to right, and
    says what each dbt test checks."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        fqn = dbt_resource_props["fqn"]
        return fqn[1] if len(fqn) > 2 else "marts"

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=test_description(manifest["nodes"][unique_id], asset_spec.key))


def test_description(test: Mapping[str, Any], asset_key: dg.AssetKey) -> str:
    """E.g. "dbt test `unique` on `task_id` of marts/fct_task_runs: fails for every value … (severity error)"."""
    metadata = test.get("test_metadata") or {}
    name = metadata.get("name") or test["name"]
    column = test.get("column_name") or (metadata.get("kwargs") or {}).get("column_name")
    purpose = TEST_PURPOSES.get(name, "fails for every row its query returns").format(column=column)
    on = f"`{column}` of {asset_key.to_user_string()}" if column else asset_key.to_user_string()
    severity = (test.get("config") or {}).get("severity", "error").lower()
    return f"dbt test `{name}` on {on}: {purpose} (severity {severity})."


TRANSLATOR = LayerTranslator(
    # a dlt resource can write several tables (job_lineage_objects, ...): their sources share its key
    DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
)
