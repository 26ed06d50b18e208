{#-
    Each worker seen in the last `operations_lookback_days`, at its cluster's latest capture: online or not,
    since when, and whether it is down. A worker is down when it has not been online for longer than
    `worker_offline_tolerance_minutes` (a restart, a deploy's, takes less) and its cluster has fewer workers
    online than when it was last online (a worker replaced by another - a new container's name - is no
    capacity lost), unless its name matches `worker_offline_expected` (a planned scale-down). Flower keeps
    listing an offline worker; one it no longer lists at all (Flower restarted) is offline too.
-#}
with

clocks as (

    select * from {{ ref('int_cluster_clocks') }}

),

snapshots as (

    select snapshots.cluster, snapshots.worker, snapshots.snapshot_at, snapshots.is_online, snapshots.active_task_ids
    from {{ ref('stg_flower__worker_snapshots') }} as snapshots
    inner join clocks
        on snapshots.cluster = clocks.cluster
    where snapshots.snapshot_at >= clocks.lookback_start_at

),

online_counts as (

    select cluster, snapshot_at, count(*) filter (where is_online) as online_workers
    from snapshots
    group by 1, 2

),

workers as (

    select
        cluster,
        worker,
        max(snapshot_at) as last_listed_at,
        max(snapshot_at) filter (where is_online) as last_online_at

    from snapshots
    group by 1, 2

),

final as (

    select
        cast(workers.cluster as varchar) as cluster,
        cast(workers.worker as varchar) as worker,
        coalesce(
            workers.last_listed_at = clocks.workers_snapshot_at
            and workers.last_online_at = clocks.workers_snapshot_at,
            false
        ) as is_online,
        workers.last_online_at,
        workers.last_listed_at,
        {{ seconds_between('workers.last_online_at', 'clocks.workers_snapshot_at') }} as offline_seconds,
        coalesce(now_online.online_workers, 0) as cluster_online_workers,
        then_online.online_workers as cluster_online_workers_when_last_online,
        -- the tasks it was running when last seen online: lost with it if it is down
        nullif(cast(last_online.active_task_ids as varchar), '') as last_active_task_ids,
        {{ matches_any('workers.worker', var('worker_offline_expected')) }} as is_offline_expected,
        clocks.workers_snapshot_at as observed_at,
        coalesce(
            workers.last_online_at < clocks.workers_snapshot_at
                - interval '1 minute' * {{ var('worker_offline_tolerance_minutes') }}
            and coalesce(now_online.online_workers, 0) < then_online.online_workers
            and not ({{ matches_any('workers.worker', var('worker_offline_expected')) }}),
            false
        ) as is_down

    from workers
    inner join clocks
        on workers.cluster = clocks.cluster
    left join online_counts as now_online
        on workers.cluster = now_online.cluster
        and clocks.workers_snapshot_at = now_online.snapshot_at
    left join snapshots as last_online
        on workers.cluster = last_online.cluster
        and workers.worker = last_online.worker
        and workers.last_online_at = last_online.snapshot_at
    left join online_counts as then_online
        on workers.cluster = then_online.cluster
        and workers.last_online_at = then_online.snapshot_at
    -- a worker never online in what is read says nothing about now
    where workers.last_online_at is not null

)

select * from final
