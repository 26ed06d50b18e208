-- One row per worker snapshot that follows an earlier counter reading of the same worker (a worker is a name
-- within its cluster: celery@host in two clusters is two workers): what the worker's
-- processed counter (Celery's stats.total, one count per accepted task attempt) grew by in between.
with

snapshots as (

    select * from {{ ref('stg_flower__worker_snapshots') }}

),

readings as (

    -- Flower stamps a worker's inspect reply when it arrives (heartbeat_at), just after the worker read its
    -- counter; the snapshot time is taken before the inspect calls. A worker that did not answer keeps
    -- its previous reply and stamp.
    select
        cluster,
        worker,
        snapshot_at,
        coalesce(heartbeat_at, snapshot_at) as counter_read_at,
        pid,
        uptime_s,
        processed_total,
        dlt_load_id

    from snapshots
    where processed_total is not null

),

paired as (

    select
        *,
        lag(snapshot_at) over by_worker as previous_snapshot_at,
        lag(counter_read_at) over by_worker as previous_counter_read_at,
        lag(pid) over by_worker as previous_pid,
        lag(processed_total) over by_worker as previous_processed_total

    from readings
    window by_worker as (partition by cluster, worker order by snapshot_at)

),

flagged as (

    select
        *,
        -- the counter starts again at 0 when the worker process starts again; a container restart may
        -- reuse the pid and a busy worker may pass its old count, so any one sign is enough
        coalesce(processed_total < previous_processed_total, false)
            or coalesce(pid <> previous_pid, false)
            or coalesce(uptime_s < {{ seconds_between('previous_counter_read_at', 'counter_read_at') }}, false)
            as is_restart

    from paired
    where previous_snapshot_at is not null

),

final as (

    select
        cluster,
        worker,
        snapshot_at,
        previous_snapshot_at,
        -- after a restart the counter covers only the new process: from its start, estimated from its
        -- uptime at the reading (rounded to whole seconds: one second earlier keeps its first attempts in)
        case
            when is_restart then greatest(
                previous_counter_read_at,
                coalesce(counter_read_at - interval '1 second' * (uptime_s + 1), previous_counter_read_at)
            )
            else previous_counter_read_at
        end as counted_from_at,
        counter_read_at as counted_until_at,
        pid,
        previous_pid,
        uptime_s,
        processed_total,
        previous_processed_total,
        is_restart,
        case
            when is_restart then processed_total
            else processed_total - previous_processed_total
        end as processed_in_interval,
        dlt_load_id

    from flagged

)

select * from final
