{#-
    The text of column `field` of the row of `row_alias` (a table alias), null when that relation has no
    such column: a column a user's file may leave out, read without asking the database for its columns.
-#}
{% macro optional_field(row_alias, field) -%}
    {{ return(adapter.dispatch('optional_field')(row_alias, field)) }}
{%- endmacro %}

{% macro duckdb__optional_field(row_alias, field) -%}
    json_extract_string(to_json({{ row_alias }}), '$.{{ field }}')
{%- endmacro %}

{% macro postgres__optional_field(row_alias, field) -%}
    (to_jsonb({{ row_alias }}) ->> '{{ field }}')
{%- endmacro %}
