{#-
    Aggregate: `value` of the row with the greatest `order_by` (a list of expressions, compared in order),
    rows with a null `value` (or a null single ordering expression) left out: DuckDB's arg_max. Ties on the
    whole ordering pick any of them, so make the ordering unique.
-#}
{% macro value_at_max(value, order_by) -%}
    {{ return(adapter.dispatch('value_at_max')(value, order_by)) }}
{%- endmacro %}

{% macro duckdb__value_at_max(value, order_by) -%}
    arg_max({{ value }}, {{ order_by[0] if order_by | length == 1 else '(' ~ order_by | join(', ') ~ ')' }})
{%- endmacro %}

{% macro postgres__value_at_max(value, order_by) -%}
    (array_agg({{ value }} order by {{ order_by | join(' desc nulls last, ') }} desc nulls last)
        filter (where {{ value }} is not null
        {%- if order_by | length == 1 %} and {{ order_by[0] }} is not null{% endif %}))[1]
{%- endmacro %}
