{{
    config(
        materialized='incremental',
        incremental_strategy='replace_groups',
        unique_key=['cluster', 'worker', 'snapshot_at'],
        on_schema_change='fail',
    )
}}
{#-
    One row per snapshot interval of a worker: task attempts its counter counted vs attempts in the warehouse.
    Incremental: a build recomputes, per worker, every interval from the earliest time anything loaded since
    the last build touches (a new snapshot, an attempt of a task loaded since, where a changed task's attempts
    were before: int_task_run_changes), plus the intervals that ended at the latest snapshot until now.
-#}
{%- set incremental = is_incremental() -%}
{%- set watermark = max_load_id(this, 'latest_dlt_load_id') if incremental %}
{%- set changes = ref('int_task_run_changes') %}

with

all_intervals as (

    select * from {{ ref('int_worker_snapshot_intervals') }}

),

all_attempts as (

    select * from {{ ref('int_worker_task_attempts') }}

),

snapshots as (

    select * from {{ ref('stg_flower__worker_snapshots') }}

),

{% if incremental -%}

touched as (

    -- per worker (of its cluster), the earliest moment a change since the last build touches
    select cluster, worker, min(from_at) as from_at
    from (
        select cluster, worker, counted_until_at as from_at from all_intervals
        where dlt_load_id > {{ watermark }}
        union all
        select cluster, worker, attempt_at from all_attempts where latest_dlt_load_id > {{ watermark }}
        union all
        select cluster, worker, least(started_at, retried_at, finished_at) from {{ changes }}
        where changed_in_load_id > {{ watermark }}
        union all
        select cluster, worker, counted_until_at from {{ this }} where ends_at_latest_snapshot
    ) as changed
    where worker is not null and from_at is not null
    group by cluster, worker

),

intervals as (

    select all_intervals.*
    from all_intervals
    inner join touched
        on all_intervals.cluster = touched.cluster
        and all_intervals.worker = touched.worker
        and all_intervals.counted_until_at >= touched.from_at

),

attempts as (

    select * from all_attempts
    where attempt_at > (select min(counted_from_at) from intervals)

),

{%- else -%}

intervals as (

    select * from all_intervals

),

attempts as (

    select * from all_attempts

),

{%- endif %}

-- each cluster's latest workers snapshot: clusters are read by loads of their own, at their own times
latest_snapshots as (

    select cluster, max(snapshot_at) as snapshot_at
    from snapshots
    group by cluster

),

newest_load as (

    select greatest(
        (select coalesce(max(dlt_load_id), '') from snapshots),
        (select coalesce(max(latest_dlt_load_id), '') from all_attempts)
    ) as load_id

),

countable as (

    -- a worker that did not answer repeats its previous reading: nothing can fall in that interval
    select
        cluster,
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
        intervals.cluster,
        intervals.worker,
        intervals.snapshot_at,
        intervals.previous_snapshot_at,
        intervals.counted_from_at,
        intervals.counted_until_at,
        intervals.is_restart,
        intervals.processed_in_interval as attempts_processed,
        coalesce(attributed.attempts_loaded, 0)::bigint as attempts_loaded,
        coalesce(intervals.snapshot_at = latest_snapshots.snapshot_at, false) as ends_at_latest_snapshot

    from intervals
    left join attributed
        on intervals.cluster = attributed.cluster
        and intervals.worker = attributed.worker
        and intervals.snapshot_at = attributed.snapshot_at
    left join latest_snapshots
        on intervals.cluster = latest_snapshots.cluster

),

final as (

    select
        cluster,
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
        ends_at_latest_snapshot,
        (select load_id from newest_load) as latest_dlt_load_id

    from compared

)

select * from final
