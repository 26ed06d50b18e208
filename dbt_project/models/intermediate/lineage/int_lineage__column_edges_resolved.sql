-- Column edges between real tables/views: from every flow into a real column, walk upstream through
-- intermediate objects (RS-n, INSERT-SELECT-n, functions, temp tables...) until real source columns.
-- The walk is a recursive CTE with UNION (set semantics) and no depth column, so a cycle between
-- intermediates adds no new rows and the recursion stops.
with

flows as (

    select * from {{ ref('int_lineage__column_flows') }}

),

walked as (

    with recursive walk as (

        select
            origin_kind,
            origin,
            origin_name,
            effect_type,
            target_table,
            target_column,
            source_object_id as node_object_id,
            source_column_key as node_column_key,
            source_is_real as node_is_real,
            source_table as node_table,
            source_column as node_column

        from flows
        where target_is_real

        union

        select
            walk.origin_kind,
            walk.origin,
            walk.origin_name,
            walk.effect_type,
            walk.target_table,
            walk.target_column,
            flows.source_object_id,
            flows.source_column_key,
            flows.source_is_real,
            flows.source_table,
            flows.source_column

        from walk
        inner join flows
            on walk.origin_kind = flows.origin_kind
            and walk.origin = flows.origin
            and walk.node_object_id = flows.target_object_id
            and walk.node_column_key = flows.target_column_key
        where not walk.node_is_real

    )

    select * from walk

),

resolved as (

    select distinct
        node_table as source_table,
        node_column as source_column,
        target_table,
        target_column,
        origin_kind,
        origin,
        origin_name,
        effect_type

    from walked
    where node_is_real
        and not (node_table = target_table and node_column = target_column)

)

select * from resolved
