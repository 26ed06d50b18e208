{%- set column_columns = [
    ['object_id', 'varchar'],
    ['column_id', 'varchar'],
    ['column_name', 'varchar'],
    ['column_source', 'varchar'],
] -%}

with

job_columns as (

    {{ select_latest_export_rows('job_lineage', 'columns', 'job_id', column_columns) }}

),

query_columns as (

    {{ select_latest_export_rows('query_lineage', 'columns', 'sql_file', column_columns) }}

),

unioned as (

    select 'job' as origin_kind, job_id as origin, * exclude (job_id) from job_columns
    union all
    select 'sql_file' as origin_kind, sql_file as origin, * exclude (sql_file) from query_columns

),

renamed as (

    select
        ----------  ids
        origin_kind,
        origin,
        object_id,
        column_id,

        ---------- text
        column_name,
        lower(column_source) as column_source

    from unioned

)

select * from renamed
