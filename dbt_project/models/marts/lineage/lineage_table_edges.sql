-- Table edges are the distinct table pairs of the column edges (fdd data flow); filter-only (fdr)
-- dependencies and a table feeding itself (UPDATE t SET a = b) are not table edges.
with

column_edges as (

    select * from {{ ref('lineage_column_edges') }}

),

edges as (

    select
        source_table,
        target_table,
        origin_kind,
        origin,
        origin_name,
        count(*) as column_edges

    from column_edges
    where source_table <> target_table
    group by 1, 2, 3, 4, 5

)

select * from edges
