-- Transitive closure of lineage_table_edges over all origins: every table downstream of a table, at the
-- smallest number of edges (depth 1 = direct). The recursive CTE is keyed on the pair (USING KEY) and only
-- adds pairs not reached before, so it walks breadth first, the first depth found is the smallest, and a
-- cycle stops adding rows. A table reached from itself through a cycle is not listed.
with

edges as (

    select distinct source_table, target_table from {{ ref('lineage_table_edges') }}

),

closure as (

    with recursive reach (table_name, downstream_table, depth) using key (table_name, downstream_table) as (

        select source_table, target_table, 1
        from edges

        union

        select reach.table_name, edges.target_table, reach.depth + 1
        from reach
        inner join edges
            on reach.downstream_table = edges.source_table
        where not exists (
            select 1 from recurring.reach as known
            where known.table_name = reach.table_name
                and known.downstream_table = edges.target_table
        )

    )

    select * from reach

)

select table_name, downstream_table, depth
from closure
where table_name <> downstream_table
