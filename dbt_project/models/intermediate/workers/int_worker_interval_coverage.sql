-- One row per snapshot interval of a worker: task attempts its counter counted vs attempts in the warehouse.
-- A table, not a view: its tests and the coverage check read it after every build (an ASOF join over all tasks).
{{ config(materialized='table') }}

with

intervals as (

    select * from {{ ref('int_worker_snapshot_intervals') }}

),

attempts as (

    select * from {{ ref('int_worker_task_attempts') }}

),

snapshots as (

    select * from {{ ref('stg_flower__worker_snapshots') }}

),

countable as (

    -- a worker that did not answer repeats its previous reading: nothing can fall in that interval
    select
        worker,
        snapshot_at,
        counted_from_at,
        counted_until_at

    from intervals
    where counted_until_at > counted_from_at

),

attributed as (

    -- each attempt goes to its worker's first interval ending at or after it, if it began inside it
    -- (attempts before a restart, in no interval, go nowhere)
    {{ attempts_per_interval('attempts', 'countable') }}

),

compared as (

    select
        intervals.worker,
        intervals.snapshot_at,
        intervals.previous_snapshot_at,
        intervals.counted_from_at,
        intervals.counted_until_at,
        intervals.is_restart,
        intervals.processed_in_interval as attempts_processed,
        coalesce(attributed.attempts_loaded, 0)::bigint as attempts_loaded,
        intervals.snapshot_at = (select max(snapshot_at) from snapshots) as ends_at_latest_snapshot

    from intervals
    left join attributed
        on intervals.worker = attributed.worker
        and intervals.snapshot_at = attributed.snapshot_at

),

final as (

    select
        worker,
        snapshot_at,
        previous_snapshot_at,
        counted_from_at,
        counted_until_at,
        is_restart,
        attempts_processed,
        attempts_loaded,
        greatest(attempts_processed - attempts_loaded, 0) as attempts_lost,
        greatest(attempts_loaded - attempts_processed, 0) as attempts_beyond_counter,
        ends_at_latest_snapshot

    from compared

)

select * from final
