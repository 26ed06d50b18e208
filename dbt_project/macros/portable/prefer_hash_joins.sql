{#-
    Pre-hook of the lineage marts. PostgreSQL estimates the lineage views' filtered joins at a few rows where
    there are thousands and plans them as nested loops, which made lineage_column_edges far slower than
    with hash joins, which suit every join there. Scoped to the model's transaction.
-#}
{% macro prefer_hash_joins() -%}
    {{ return(adapter.dispatch('prefer_hash_joins')()) }}
{%- endmacro %}

{% macro default__prefer_hash_joins() -%}
{%- endmacro %}

{% macro postgres__prefer_hash_joins() -%}
    set local enable_nestloop = off
{%- endmacro %}
