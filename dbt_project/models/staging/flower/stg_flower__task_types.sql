with

source as (

    {{ select_source_columns(source('flower', 'task_types'), [
        ['name', 'varchar'],
        ['last_seen_at', 'timestamptz'],
    ]) }}

),

renamed as (

    select
        name as task_name,
        last_seen_at

    from source

)

select * from renamed
