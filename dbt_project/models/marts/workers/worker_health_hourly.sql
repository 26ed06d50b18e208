-- One row per UTC hour and worker (of its cluster) that had at least one snapshot in that hour.
with

snapshots as (

    select * from {{ ref('stg_flower__worker_snapshots') }}

),

intervals as (

    select * from {{ ref('int_worker_snapshot_intervals') }}

),

hourly as (

    select
        date_trunc('hour', timezone('UTC', snapshot_at)) as hour,
        cluster,
        worker,
        count(*) as snapshots,
        count(*) filter (where is_online) as online_snapshots,
        cast(count(*) filter (where is_online) as double precision) / count(*) as online_ratio,
        bool_and(is_online) as was_always_online,
        max(active_tasks) as max_active_tasks,
        avg(active_tasks) as avg_active_tasks,
        max(reserved_tasks) as max_reserved_tasks,
        max(max_rss_kb) as max_rss_kb,
        max(heartbeat_at) as last_heartbeat_at

    from snapshots
    group by 1, 2, 3

),

processed as (

    -- each interval counts in the hour of the snapshot that ends it
    select
        date_trunc('hour', timezone('UTC', snapshot_at)) as hour,
        cluster,
        worker,
        sum(processed_in_interval)::bigint as processed_in_hour

    from intervals
    group by 1, 2, 3

),

final as (

    select
        hourly.hour,
        hourly.cluster,
        hourly.worker,
        hourly.snapshots,
        hourly.online_snapshots,
        hourly.online_ratio,
        hourly.was_always_online,
        hourly.max_active_tasks,
        hourly.avg_active_tasks,
        hourly.max_reserved_tasks,
        processed.processed_in_hour,
        hourly.max_rss_kb,
        hourly.last_heartbeat_at

    from hourly
    left join processed
        on hourly.hour = processed.hour
        and hourly.cluster = processed.cluster
        and hourly.worker = processed.worker

)

select * from final
