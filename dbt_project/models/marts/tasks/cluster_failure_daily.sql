-- The estate: one row per UTC day and cluster, the day's task runs of every task of that cluster summed.
-- A table rebuilt on every build from task_failure_daily (days x task names, already summed per task): a day
-- of a cluster reads as many rows as it has task names, whatever the number of runs.
with

daily as (

    select * from {{ ref('task_failure_daily') }}

),

per_cluster as (

    -- bigint on both engines (PostgreSQL sums a bigint to numeric, DuckDB to int128)
    select
        day,
        cluster,
        cast(sum(runs) as bigint) as runs,
        cast(sum(successes) as bigint) as successes,
        cast(sum(failures) as bigint) as failures,
        cast(sum(unfinished_runs) as bigint) as unfinished_runs,
        cast(sum(failures) as double precision) / sum(runs) as failure_rate,
        count(*) as tasks,
        count(*) filter (where failures > 0) as failing_tasks,
        cast(sum(retried_runs) as bigint) as retried_runs,
        cast(sum(expired_runs) as bigint) as expired_runs,
        cast(sum(revoked_runs) as bigint) as revoked_runs,
        cast(sum(terminated_runs) as bigint) as terminated_runs,
        cast(sum(timed_out_runs) as bigint) as timed_out_runs,
        cast(sum(lost_runs) as bigint) as lost_runs,
        cast(sum(rejected_runs) as bigint) as rejected_runs,
        max(last_failure_at) as last_failure_at

    from daily
    group by 1, 2

)

select * from per_cluster
