with

source as (

    {{ select_source_columns(source('flower', 'queues_length'), [
        ['cluster', 'varchar'],
        ['snapshot_at', 'timestamptz'],
        ['queue', 'varchar'],
        ['messages', 'bigint'],
    ]) }}

),

renamed as (

    select
        -- the Celery cluster (its Flower) the row came from; 'default' for a warehouse of one Flower
        coalesce(cluster, '{{ default_cluster() }}') as cluster,
        queue as queue_name,
        coalesce(messages, 0) as messages,
        snapshot_at

    from source

)

select * from renamed
