{#-
    Capture group `group` (1 = the first) of the first match of `pattern` (a SQL string literal) in
    `expression`; '' when it does not match or the group took no part, null for a null expression
    (DuckDB's regexp_extract). A pattern may start with `(?s)` (dot matches newlines: PostgreSQL's default).
-#}
{% macro regexp_group(expression, pattern, group) -%}
    {{ return(adapter.dispatch('regexp_group')(expression, pattern, group)) }}
{%- endmacro %}

{% macro duckdb__regexp_group(expression, pattern, group) -%}
    regexp_extract({{ expression }}, {{ pattern }}, {{ group }})
{%- endmacro %}

{% macro postgres__regexp_group(expression, pattern, group) -%}
    case when ({{ expression }}) is not null
        then coalesce((regexp_match({{ expression }}, {{ pattern }}))[{{ group }}], '') end
{%- endmacro %}
