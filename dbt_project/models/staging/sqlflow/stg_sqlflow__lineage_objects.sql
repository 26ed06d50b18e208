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

unioned as (

    {{ latest_lineage_rows('objects', object_columns) }}

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
