-- One row per UTC day (of each run's activity_at: finished, else started, else received) and task name.
with

runs as (

    select * from {{ ref('fct_task_runs') }}

),

daily as (

    select
        activity_day as day,
        task_name,
        count(*) as runs,
        count(*) filter (where is_success) as successes,
        count(*) filter (where is_failure) as failures,
        count(*) filter (where not is_finished) as unfinished_runs,
        count(*) filter (where is_failure) / count(*) as failure_rate,
        count(*) filter (where is_retried) as retried_runs,
        sum(retries) as retries,
        quantile_cont(runtime_s, 0.5) as p50_runtime_s,
        quantile_cont(runtime_s, 0.95) as p95_runtime_s,
        max(runtime_s) as max_runtime_s,
        avg(queue_wait_s) as avg_queue_wait_s,
        max(activity_at) filter (where is_failure) as last_failure_at

    from runs
    group by all

)

select * from daily
