-- Direct data flows (fdd) between columns of the current origins, one row per (relationship, source), with
-- both ends classified. System columns (PseudoRows / RelationRows: row counts, not data) are left out.
with

relationships as (

    select * from {{ ref('stg_sqlflow__lineage_relationships') }}
    where relationship_type = 'fdd'

),

current_origins as (

    select * from {{ ref('int_lineage__current_origins') }}

),

objects as (

    select * from {{ ref('int_lineage__objects_classified') }}

),

system_columns as (

    select origin_kind, origin, object_id, column_id
    from {{ ref('stg_sqlflow__lineage_columns') }}
    where column_source = 'system'

),

flows as (

    select
        relationships.origin_kind,
        relationships.origin,
        current_origins.origin_name,
        relationships.relationship_id,
        relationships.effect_type,
        relationships.target_object_id,
        -- column ids identify a column inside a response; names only when an id is missing
        coalesce(relationships.target_column_id, 'name:' || lower(relationships.target_column))
            as target_column_key,
        lower(relationships.target_column) as target_column,
        targets.table_name as target_table,
        targets.is_real as target_is_real,
        relationships.source_object_id,
        coalesce(relationships.source_column_id, 'name:' || lower(relationships.source_column))
            as source_column_key,
        lower(relationships.source_column) as source_column,
        sources.table_name as source_table,
        sources.is_real as source_is_real

    from relationships
    inner join current_origins
        on relationships.origin_kind = current_origins.origin_kind
        and relationships.origin = current_origins.origin
    inner join objects as targets
        on relationships.origin_kind = targets.origin_kind
        and relationships.origin = targets.origin
        and relationships.target_object_id = targets.object_id
    inner join objects as sources
        on relationships.origin_kind = sources.origin_kind
        and relationships.origin = sources.origin
        and relationships.source_object_id = sources.object_id

),

without_system_columns as (

    select flows.*
    from flows
    where lower(target_column) not in ('pseudorows', 'relationrows')
        and lower(source_column) not in ('pseudorows', 'relationrows')
        and not exists (
            select 1 from system_columns
            where system_columns.origin_kind = flows.origin_kind
                and system_columns.origin = flows.origin
                and (
                    (system_columns.object_id = flows.target_object_id
                        and system_columns.column_id = flows.target_column_key)
                    or (system_columns.object_id = flows.source_object_id
                        and system_columns.column_id = flows.source_column_key)
                )
        )

)

select * from without_system_columns
