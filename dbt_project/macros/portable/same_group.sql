{#-
    Join condition: rows `left` and `right` are of the same group, every one of `keys` equal, a null equal
    to a null. DuckDB joins on `is not distinct from` as on `=`; PostgreSQL cannot hash it and compares every
    row with every other (a million rows against ten thousand changed groups: minutes), so there the keys are
    compared as one text value, a row's text form, which tells a null from an empty string and is hashed.
-#}
{% macro same_group(left, right, keys) -%}
    {{ return(adapter.dispatch('same_group')(left, right, keys)) }}
{%- endmacro %}

{% macro duckdb__same_group(left, right, keys) -%}
    {%- for key in keys %}
        {{ left }}.{{ key }} is not distinct from {{ right }}.{{ key }}{{ ' and' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro postgres__same_group(left, right, keys) -%}
    row({{ left }}.{{ keys | join(', ' ~ left ~ '.') }})::text
        = row({{ right }}.{{ keys | join(', ' ~ right ~ '.') }})::text
{%- endmacro %}
