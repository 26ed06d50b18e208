{#-
    SQL for the oldest load id that counts as recent in `relation`: `days` before its newest load. Tests of
    large incremental tables check rows from then on; older rows were checked when they were recent.
-#}
{% macro recent_load_id_bound(relation, column, days) -%}
    (select cast(cast(max({{ column }}) as double precision) - {{ days * 86400 }} as varchar) from {{ relation }})
{%- endmacro %}
