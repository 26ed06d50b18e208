{%- set object_columns = [
    ['object_id', 'varchar'],
    ['object_name', 'varchar'],
    ['qualified_name', 'varchar'],
    ['object_type', 'varchar'],
    ['sub_type', 'varchar'],
    ['server_name', 'varchar'],
    ['database_name', 'varchar'],
    ['schema_name', 'varchar'],
] -%}

with

job_objects as (

    {{ select_latest_export_rows('job_lineage', 'objects', 'job_id', object_columns) }}

),

query_objects as (

    {{ select_latest_export_rows('query_lineage', 'objects', 'sql_file', object_columns) }}

),

unioned as (

    select 'job' as origin_kind, job_id as origin, * exclude (job_id) from job_objects
    union all
    select 'sql_file' as origin_kind, sql_file as origin, * exclude (sql_file) from query_objects

),

renamed as (

    select
        ----------  ids
        origin_kind,
        origin,
        object_id,

        ---------- text
        object_name,
        qualified_name,
        lower(object_type) as object_type,
        lower(sub_type) as sub_type,
        server_name,
        database_name,
        schema_name

    from unioned

)

select * from renamed
