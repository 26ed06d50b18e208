{%- set column_columns = [
    ['object_id', 'varchar'],
    ['column_id', 'varchar'],
    ['column_name', 'varchar'],
    ['column_source', 'varchar'],
] -%}

with

unioned as (

    {{ latest_lineage_rows('columns', column_columns) }}

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
