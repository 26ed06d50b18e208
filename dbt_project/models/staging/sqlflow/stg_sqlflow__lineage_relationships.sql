{%- set relationship_columns = [
    ['relationship_id', 'varchar'],
    ['relationship_type', 'varchar'],
    ['effect_type', 'varchar'],
    ['process_id', 'varchar'],
    ['target_object_id', 'varchar'],
    ['target_object_name', 'varchar'],
    ['target_column_id', 'varchar'],
    ['target_column', 'varchar'],
    ['source_position', 'bigint'],
    ['source_object_id', 'varchar'],
    ['source_object_name', 'varchar'],
    ['source_column_id', 'varchar'],
    ['source_column', 'varchar'],
    ['source_clause_type', 'varchar'],
] -%}

with

unioned as (

    {{ latest_lineage_rows('relationships', relationship_columns) }}

),

renamed as (

    select
        ----------  ids
        origin_kind,
        origin,
        relationship_id,
        source_position,
        process_id,
        target_object_id,
        target_column_id,
        source_object_id,
        source_column_id,

        ---------- text
        lower(relationship_type) as relationship_type,
        lower(effect_type) as effect_type,
        target_object_name,
        target_column,
        source_object_name,
        source_column,
        lower(source_clause_type) as source_clause_type

    from unioned

)

select * from renamed
