{#-
    Breadth-first transitive closure of `edges` (a relation or CTE with source_table, target_table):
    (table_name, downstream_table, depth) for every table reachable from a source table, at the smallest
    number of edges. A pair is only added when not reached before, so a cycle ends the walk; a table on a
    cycle reaches itself.
-#}
{% macro downstream_closure(edges) -%}
    {{ return(adapter.dispatch('downstream_closure')(edges)) }}
{%- endmacro %}

{#- The recursive CTE is keyed on the pair (USING KEY): a row only adds pairs the recursion has not seen. -#}
{% macro duckdb__downstream_closure(edges) -%}
    with recursive reach (table_name, downstream_table, depth) using key (table_name, downstream_table) as (

        select source_table, target_table, 1
        from {{ edges }}

        union

        select reach.table_name, edges.target_table, reach.depth + 1
        from reach
        inner join {{ edges }} as edges
            on reach.downstream_table = edges.source_table
        where not exists (
            select 1 from recurring.reach as known
            where known.table_name = reach.table_name
                and known.downstream_table = edges.target_table
        )

    )

    select table_name, downstream_table, depth from reach
{%- endmacro %}

{#-
    PostgreSQL's recursion sees only the previous step's rows: one row per source table and depth carries
    the tables first reached at that depth (frontier) and every table reached so far (reached).
-#}
{% macro postgres__downstream_closure(edges) -%}
    with recursive reach (table_name, depth, frontier, reached) as (

        select source_table, 1, array_agg(distinct target_table), array_agg(distinct target_table)
        from {{ edges }}
        group by source_table

        union all

        select reach.table_name, reach.depth + 1, next_step.frontier, reach.reached || next_step.frontier
        from reach
        cross join lateral (
            select array_agg(distinct edges.target_table) as frontier
            from {{ edges }} as edges
            where edges.source_table = any(reach.frontier)
                and not edges.target_table = any(reach.reached)
        ) as next_step
        where next_step.frontier is not null

    )

    select reach.table_name, downstream.table_name as downstream_table, reach.depth
    from reach
    cross join unnest(reach.frontier) as downstream(table_name)
{%- endmacro %}
