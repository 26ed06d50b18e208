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

job_relationships as (

    {{ select_latest_export_rows('job_lineage', 'relationships', 'job_id', relationship_columns) }}

),

query_relationships as (

    {{ select_latest_export_rows('query_lineage', 'relationships', 'sql_file', relationship_columns) }}

),

unioned as (

    select 'job' as origin_kind, job_id as origin, * exclude (job_id) from job_relationships
    union all
    select 'sql_file' as origin_kind, sql_file as origin, * exclude (sql_file) from query_relationships

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
