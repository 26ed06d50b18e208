with

source as (

    {{ select_source_columns(source('flower', 'workers'), [
        ['cluster', 'varchar'],
        ['snapshot_at', 'timestamptz'],
        ['worker', 'varchar'],
        ['is_online', 'boolean'],
        ['heartbeat_at', 'timestamptz'],
        ['pid', 'bigint'],
        ['uptime_s', 'double precision'],
        ['pool_implementation', 'varchar'],
        ['pool_max_concurrency', 'bigint'],
        ['pool_processes', 'bigint'],
        ['prefetch_count', 'bigint'],
        ['processed_total', 'bigint'],
        ['queues', 'varchar'],
        ['active_tasks', 'bigint'],
        ['reserved_tasks', 'bigint'],
        ['scheduled_tasks', 'bigint'],
        ['active_task_ids', 'varchar'],
        ['reserved_task_ids', 'varchar'],
        ['registered_tasks', 'varchar'],
        ['cpu_user_s', 'double precision'],
        ['cpu_system_s', 'double precision'],
        ['max_rss_kb', 'bigint'],
        ['broker_transport', 'varchar'],
        ['_dlt_load_id', 'varchar'],
    ]) }}

),

renamed as (

    select
        -- the Celery cluster (its Flower) the row came from; 'default' for a warehouse of one Flower
        coalesce(cluster, '{{ default_cluster() }}') as cluster,
        ----------  ids
        worker,
        pid,

        ---------- text
        pool_implementation,
        queues,
        registered_tasks,
        broker_transport,
        active_task_ids,
        reserved_task_ids,

        ---------- numerics
        uptime_s,
        pool_max_concurrency,
        pool_processes,
        prefetch_count,
        processed_total,
        active_tasks,
        reserved_tasks,
        scheduled_tasks,
        cpu_user_s,
        cpu_system_s,
        max_rss_kb,

        ---------- booleans
        coalesce(is_online, false) as is_online,

        ---------- timestamps
        snapshot_at,
        heartbeat_at,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
