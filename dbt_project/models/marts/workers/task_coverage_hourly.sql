-- One row per UTC hour and worker (of its cluster) with a snapshot interval ending in that hour: how many of
-- the task attempts the worker counted reached the warehouse.
with

intervals as (

    select * from {{ ref('int_worker_interval_coverage') }}

),

hourly as (

    select
        date_trunc('hour', timezone('UTC', snapshot_at)) as hour,
        cluster,
        worker,
        count(*) as intervals,
        count(*) filter (where is_restart) as restarts,
        min(counted_from_at) as counted_from_at,
        max(counted_until_at) as counted_until_at,
        sum(attempts_processed)::bigint as attempts_processed,
        sum(attempts_loaded)::bigint as attempts_loaded

    from intervals
    group by 1, 2, 3

),

final as (

    select
        *,
        greatest(attempts_processed - attempts_loaded, 0) as attempts_lost,
        greatest(attempts_loaded - attempts_processed, 0) as attempts_beyond_counter,
        cast(least(attempts_loaded, attempts_processed) as double precision) / nullif(attempts_processed, 0)
            as coverage

    from hourly

)

select * from final
