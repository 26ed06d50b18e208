-- Transitive closure of lineage_table_edges over all origins: every table downstream of a table, at the
-- smallest number of edges (depth 1 = direct), walked breadth first so the first depth found is the
-- smallest and a cycle stops adding rows (macros/portable/downstream_closure.sql). A table reached from
-- itself through a cycle is not listed.
with

edges as (

    select distinct source_table, target_table from {{ ref('lineage_table_edges') }}

),

closure as (

    {{ downstream_closure('edges') }}

)

select table_name, downstream_table, depth
from closure
where table_name <> downstream_table
