{#-
    Seconds from `start` to `end` (timestamps with time zone), as a double, exact to the microsecond: the
    difference is taken before the conversion (two epochs near 1.8e9 s keep only about 7 digits after
    the point each, and the engines round them differently).
-#}
{% macro seconds_between(start, end) -%}
    cast(extract(epoch from ({{ end }} - {{ start }})) as double precision)
{%- endmacro %}
