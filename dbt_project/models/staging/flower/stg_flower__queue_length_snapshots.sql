with

source as (

    {{ select_source_columns(source('flower', 'queues_length'), [
        ['snapshot_at', 'timestamptz'],
        ['queue', 'varchar'],
        ['messages', 'bigint'],
    ]) }}

),

renamed as (

    select
        queue as queue_name,
        coalesce(messages, 0) as messages,
        snapshot_at

    from source

)

select * from renamed
