{#-
    The cluster of a warehouse of one Flower, and of every row a warehouse built before clusters held
    (sources/flower/clusters.py: DEFAULT_CLUSTER; orchestration/warehouse/migrations.py).
-#}
{% macro default_cluster() -%}
    {{ return('default') }}
{%- endmacro %}


{#-
    The rows of the seed task_table_map as (task_name, table_name, cluster): `cluster` null where the seed
    leaves it blank, or has no such column (a map written before clusters: task_name,table_name), which means
    any cluster. The column is read from the row as JSON (optional_field), so a seed without it needs no
    other SQL.
-#}
{% macro task_table_map_rows() -%}
    select
        cast(seed.task_name as varchar) as task_name,
        lower(cast(seed.table_name as varchar)) as table_name,
        nullif(trim(lower({{ optional_field('seed', 'cluster') }})), '') as cluster
    from {{ ref('task_table_map') }} as seed
{%- endmacro %}


{#- Join condition: a task_table_map row (`map`) applies to a task of `tasks`: same name, its cluster or any. -#}
{% macro maps_task(map, tasks) -%}
    {{ map }}.task_name = {{ tasks }}.task_name
    and ({{ map }}.cluster is null or {{ map }}.cluster = {{ tasks }}.cluster)
{%- endmacro %}
