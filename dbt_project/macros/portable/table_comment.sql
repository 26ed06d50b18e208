{#- The comment stored with table `relation` (see incremental/build_state.sql); none when absent. -#}
{% macro table_comment(relation) -%}
    {{ return(adapter.dispatch('table_comment')(relation)) }}
{%- endmacro %}

{% macro duckdb__table_comment(relation) %}
    {%- set query -%}
        select comment from duckdb_tables()
        where database_name = '{{ relation.database }}'
            and schema_name = '{{ relation.schema }}'
            and table_name = '{{ relation.identifier }}'
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {{ return(rows[0][0] if rows | length > 0 else none) }}
{% endmacro %}

{% macro postgres__table_comment(relation) %}
    {%- set query -%}
        select obj_description(to_regclass('{{ relation.include(database=false) | string | replace("'", "''") }}'), 'pg_class')
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {{ return(rows[0][0] if rows | length > 0 else none) }}
{% endmacro %}
