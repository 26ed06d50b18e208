{#-
    The tables each task of `tasks` (a CTE or relation with cluster and task_name) puts at risk: every table
    it writes (depth 0, from the CTE `task_tables`, rows of task_table_map_rows()) and everything downstream
    of those (depth >= 1, from the CTE `impact`: table_name, downstream_table, depth), each at its nearest
    written table (of several as near, the first by name). Columns: cluster, task_name, impacted_table,
    depth, written_table. Shared by the failure marts and the operations alerts, so both name the same tables.
-#}
{% macro tables_reached(tasks) -%}
    {%- set written -%}
        (
            -- a map row naming a cluster applies to that cluster only; one without, to every cluster
            select distinct subject.cluster, subject.task_name, task_tables.table_name as written_table
            from {{ tasks }} as subject
            inner join task_tables
                on {{ maps_task('task_tables', 'subject') }}
        ) as written
    {%- endset -%}
    select cluster, task_name, impacted_table, depth, written_table
    from (
        select
            *,
            row_number() over (
                partition by cluster, task_name, impacted_table order by depth, written_table
            ) as nearness_rank
        from (
            select cluster, task_name, written_table, written_table as impacted_table, 0 as depth
            from {{ written }}

            union all

            select written.cluster, written.task_name, written.written_table, impact.downstream_table, impact.depth
            from {{ written }}
            inner join impact
                on written.written_table = impact.table_name
        ) as reached
    ) as ranked
    where nearness_rank = 1
{%- endmacro %}


{#- Aggregate: the tables of tables_reached() rows as one sentence part, nearest first: `a (written), b (depth 1)`. -#}
{% macro tables_at_risk_list(impacted_table, depth) -%}
    string_agg(
        {{ impacted_table }} || case when {{ depth }} = 0 then ' (written)' else ' (depth ' || cast({{ depth }} as varchar) || ')' end,
        ', ' order by {{ depth }}, {{ impacted_table }}
    )
{%- endmacro %}
