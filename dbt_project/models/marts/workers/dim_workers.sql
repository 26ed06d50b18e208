-- One row per Celery worker ever seen, described by its latest snapshot.
with

snapshots as (

    select * from {{ ref('stg_flower__worker_snapshots') }}

),

summary as (

    select
        worker,
        min(snapshot_at) as first_seen_at,
        max(snapshot_at) as last_seen_at,
        max(snapshot_at) filter (where is_online) as last_online_at,
        max(heartbeat_at) as last_heartbeat_at,
        count(*) as snapshots,
        count(*) filter (where is_online) / count(*) as online_ratio,
        arg_max(is_online, snapshot_at) as is_online,
        arg_max(pool_implementation, snapshot_at) as pool_implementation,
        arg_max(pool_max_concurrency, snapshot_at) as pool_max_concurrency,
        arg_max(queues, snapshot_at) as queues,
        arg_max(processed_total, snapshot_at) as processed_total,
        arg_max(broker_transport, snapshot_at) as broker_transport

    from snapshots
    group by all

)

select * from summary
