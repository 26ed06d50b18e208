with

resolved as (

    select * from {{ ref('int_lineage__column_edges_resolved') }}

),

edges as (

    select
        source_table,
        source_column,
        target_table,
        target_column,
        origin_kind,
        origin,
        origin_name,
        string_agg(distinct effect_type, ',' order by effect_type) as effect_types

    from resolved
    group by 1, 2, 3, 4, 5, 6, 7

)

select * from edges
