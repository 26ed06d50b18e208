{#-
    The name a lineage object is known by in the marts: SQLFlow's qualified name, lower-cased, without
    identifier quotes and without the DEFAULT_SERVER / DEFAULT placeholders SQLFlow uses for "unknown".
-#}
{% macro lineage_table_name(qualified_name) -%}
    regexp_replace(
        lower(replace(replace(replace(replace({{ qualified_name }}, '"', ''), '`', ''), '[', ''), ']', '')),
        '^((default_server|default)\.)+',
        ''
    )
{%- endmacro %}
