{{
    config(
        materialized='incremental',
        incremental_strategy='replace_groups',
        unique_key=['day', 'cluster', 'task_name'],
        on_schema_change='fail',
    )
}}
-- One row per UTC day (of each run's activity_at: finished, else started, else received), cluster and task name.
{%- set runs = ref('fct_task_runs') -%}
{%- set changes = ref('int_task_run_changes') -%}
{%- set incremental = is_incremental() -%}
{%- set watermark = max_load_id(this, 'latest_dlt_load_id') if incremental %}

with

{% if incremental -%}

-- the groups changed since the last build: where the runs loaded since are now, and where they were
changed_groups as (

    select activity_day, cluster, task_name from {{ runs }}
    where dlt_load_id > {{ watermark }}

    union

    select activity_day, cluster, task_name from {{ changes }}
    where changed_in_load_id > {{ watermark }}

),

runs as (

    select runs.*
    from {{ runs }} as runs
    inner join changed_groups
        on {{ same_group('runs', 'changed_groups', ['activity_day', 'cluster', 'task_name']) }}

),

{%- else -%}

runs as (

    select * from {{ runs }}

),

{%- endif %}

daily as (

    select
        activity_day as day,
        cluster,
        task_name,
        count(*) as runs,
        count(*) filter (where is_success) as successes,
        count(*) filter (where is_failure) as failures,
        count(*) filter (where not is_finished) as unfinished_runs,
        cast(count(*) filter (where is_failure) as double precision) / count(*) as failure_rate,
        count(*) filter (where is_retried) as retried_runs,
        cast(sum(retries) as bigint) as retries,
        -- runtimes of runs that ran to an end: a time limit, a revoke or a lost worker cut the others short
        percentile_cont(0.5) within group (order by case when ran_to_end then runtime_s end) as p50_runtime_s,
        percentile_cont(0.95) within group (order by case when ran_to_end then runtime_s end) as p95_runtime_s,
        max(runtime_s) filter (where ran_to_end) as max_runtime_s,
        -- summed exactly (to the microsecond): a float sum depends on the order rows come in
        cast(avg(cast(queue_wait_s as decimal(18, 6))) as double precision) as avg_queue_wait_s,
        max(activity_at) filter (where is_failure) as last_failure_at,
        -- work not done that the failure rate does not count
        count(*) filter (where outcome = 'expired') as expired_runs,
        count(*) filter (where outcome = 'revoked') as revoked_runs,
        count(*) filter (where outcome = 'terminated') as terminated_runs,
        -- failures Celery itself caused, out of `failures`
        count(*) filter (where outcome = 'timed_out') as timed_out_runs,
        count(*) filter (where outcome = 'lost') as lost_runs,
        count(*) filter (where outcome = 'rejected') as rejected_runs,
        max(dlt_load_id) as latest_dlt_load_id

    from runs
    group by 1, 2, 3

),

final as (

    {% if incremental -%}
    -- every changed group; one whose runs all left it comes empty, and replace_groups deletes it
    select
        changed_groups.activity_day as day,
        changed_groups.cluster,
        changed_groups.task_name,
        {%- for column in ['runs', 'successes', 'failures', 'unfinished_runs', 'failure_rate', 'retried_runs',
                           'retries', 'p50_runtime_s', 'p95_runtime_s', 'max_runtime_s', 'avg_queue_wait_s',
                           'last_failure_at', 'expired_runs', 'revoked_runs', 'terminated_runs',
                           'timed_out_runs', 'lost_runs', 'rejected_runs', 'latest_dlt_load_id'] %}
        daily.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from changed_groups
    left join daily
        on changed_groups.activity_day is not distinct from daily.day
        and changed_groups.cluster is not distinct from daily.cluster
        and changed_groups.task_name is not distinct from daily.task_name
    {%- else -%}
    select * from daily
    {%- endif %}

)

select * from final
