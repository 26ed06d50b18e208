{#-
    Select typed columns from a dlt-loaded source table that may be incomplete:
    - dlt only creates a column once some row had a value for it (`revoked` before any task was revoked,
      `args`/`kwargs`/`result` never with include_payloads=false): a missing column becomes a typed NULL;
    - dlt only creates a table once its resource yielded rows (no query-mode lineage while sql_paths is
      empty, no queue lengths on a broker without queues): a missing table becomes an empty result.
    While parsing there is no database: the plain column list is rendered.

    columns: list of [column_name, data_type] pairs.
-#}
{% macro select_source_columns(source_relation, columns) -%}
    {%- set existing = none -%}
    {%- set relation = none -%}
    {%- if execute -%}
        {%- set relation = adapter.get_relation(
            database=source_relation.database,
            schema=source_relation.schema,
            identifier=source_relation.identifier
        ) -%}
        {%- if relation is not none -%}
            {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
        {%- endif -%}
    {%- endif %}
    select
    {%- for column_name, data_type in columns %}
        {% if not execute or (existing is not none and column_name | lower in existing) -%}
            cast({{ adapter.quote(column_name) }} as {{ data_type }})
        {%- else -%}
            cast(null as {{ data_type }})
        {%- endif %} as {{ adapter.quote(column_name) }}{{ "," if not loop.last }}
    {%- endfor %}
    {%- if not execute or relation is not none %}
    from {{ source_relation }}
    {%- else %}
    -- {{ source_relation }} does not exist yet: nothing was loaded into it
    where false
    {%- endif %}
{%- endmacro %}
