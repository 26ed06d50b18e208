with

source as (

    {{ select_source_columns(source('flower', 'task_types'), [
        ['cluster', 'varchar'],
        ['name', 'varchar'],
        ['last_seen_at', 'timestamptz'],
    ]) }}

),

renamed as (

    select
        -- the Celery cluster (its Flower) the row came from; 'default' for a warehouse of one Flower
        coalesce(cluster, '{{ default_cluster() }}') as cluster,
        name as task_name,
        last_seen_at

    from source

)

select * from renamed
