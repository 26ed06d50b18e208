with

source as (

    {{ select_source_columns(source('flower', 'tasks'), [
        ['cluster', 'varchar'],
        ['uuid', 'varchar'],
        ['name', 'varchar'],
        ['state', 'varchar'],
        ['worker', 'varchar'],
        ['received', 'timestamptz'],
        ['sent', 'timestamptz'],
        ['started', 'timestamptz'],
        ['succeeded', 'timestamptz'],
        ['failed', 'timestamptz'],
        ['retried', 'timestamptz'],
        ['revoked', 'timestamptz'],
        ['rejected', 'timestamptz'],
        ['timestamp', 'timestamptz'],
        ['eta', 'timestamptz'],
        ['expires', 'timestamptz'],
        ['runtime', 'double precision'],
        ['retries', 'bigint'],
        ['exception', 'varchar'],
        ['traceback', 'varchar'],
        ['routing_key', 'varchar'],
        ['root_id', 'varchar'],
        ['parent_id', 'varchar'],
        ['_dlt_load_id', 'varchar'],
    ]) }}

),

renamed as (

    select
        -- the Celery cluster (its Flower) the row came from; 'default' for a warehouse of one Flower
        coalesce(cluster, '{{ default_cluster() }}') as cluster,
        ----------  ids
        uuid as task_id,
        root_id,
        parent_id,

        ---------- text
        name as task_name,
        upper(state) as state,
        worker,
        routing_key,
        exception,
        traceback,

        ---------- numerics
        runtime as runtime_s,
        coalesce(retries, 0) as retries,

        ---------- timestamps
        received as received_at,
        sent as sent_at,
        started as started_at,
        succeeded as succeeded_at,
        failed as failed_at,
        retried as retried_at,
        revoked as revoked_at,
        rejected as rejected_at,
        eta as eta_at,
        expires as expires_at,
        "timestamp" as last_event_at,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
