-- One row per UTC hour and worker that had at least one snapshot in that hour.
with

snapshots as (

    select * from {{ ref('stg_flower__worker_snapshots') }}

),

hourly as (

    select
        date_trunc('hour', timezone('UTC', snapshot_at)) as hour,
        worker,
        count(*) as snapshots,
        count(*) filter (where is_online) as online_snapshots,
        count(*) filter (where is_online) / count(*) as online_ratio,
        bool_and(is_online) as was_always_online,
        max(active_tasks) as max_active_tasks,
        avg(active_tasks) as avg_active_tasks,
        max(reserved_tasks) as max_reserved_tasks,
        -- tasks processed between the hour's first and last snapshot (0 when the counter reset: restart)
        greatest(arg_max(processed_total, snapshot_at) - arg_min(processed_total, snapshot_at), 0)
            as processed_in_hour,
        max(max_rss_kb) as max_rss_kb,
        max(heartbeat_at) as last_heartbeat_at

    from snapshots
    group by all

)

select * from hourly
