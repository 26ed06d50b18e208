{#- Seconds since 1970-01-01 UTC of a timestamp with time zone, as a double on both engines. -#}
{% macro epoch_s(timestamp) -%}
    cast(extract(epoch from {{ timestamp }}) as double precision)
{%- endmacro %}
