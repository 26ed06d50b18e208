-- Every lineage object with its mart name and whether it is a real table/view (kept in the marts) or an
-- intermediate (result sets, insert-select, functions, processes, temp tables...: resolved through).
with

objects as (

    select * from {{ ref('stg_sqlflow__lineage_objects') }}

),

classified as (

    select
        origin_kind,
        origin,
        object_id,
        object_type,
        {{ lineage_table_name('coalesce(qualified_name, object_name)') }} as table_name,
        object_type in ('table', 'view')
            and coalesce(sub_type, '') not in ('temp_table', 'pseudotable')
            and not upper(object_name)
                ~ '^(RS-|INSERT-SELECT-|UPDATE-SET-|UPDATE-SELECT-|MERGE-|RESULT_OF_|PSEUDO_TABLE|#)'
                as is_real

    from objects

)

select * from classified
