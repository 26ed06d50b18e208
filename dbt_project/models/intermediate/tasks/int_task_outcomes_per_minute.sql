{{
    config(
        materialized='incremental',
        incremental_strategy='replace_groups',
        unique_key=['activity_minute', 'cluster', 'task_name'],
        on_schema_change='fail',
    )
}}
{#-
    Finished runs and failures per UTC minute (of activity_at), cluster, task name and exception type of the
    failures: what task_failure_alerts compares a window with its baseline on, without reading a week of
    runs. Incremental like task_failure_daily: the minutes and tasks that runs loaded since the last build
    count in now or counted in before (int_task_run_changes) are recomputed whole and replaced.
-#}
{%- set runs = ref('fct_task_runs') -%}
{%- set changes = ref('int_task_run_changes') -%}
{%- set incremental = is_incremental() -%}
{%- set watermark = max_load_id(this, 'latest_dlt_load_id') if incremental %}

with

{% if incremental -%}

changed_groups as (

    select date_trunc('minute', activity_at) as activity_minute, cluster, task_name from {{ runs }}
    where dlt_load_id > {{ watermark }}

    union

    select date_trunc('minute', activity_at) as activity_minute, cluster, task_name from {{ changes }}
    where changed_in_load_id > {{ watermark }}

),

-- their days first: a join on fct_task_runs' stored day prunes the history before any minute is computed
changed_days as (

    select distinct cast(timezone('UTC', activity_minute) as date) as activity_day, cluster, task_name
    from changed_groups

),

runs_of_changed_days as (

    select runs.*, date_trunc('minute', runs.activity_at) as activity_minute
    from {{ runs }} as runs
    inner join changed_days
        on {{ same_group('runs', 'changed_days', ['activity_day', 'cluster', 'task_name']) }}

),

runs as (

    select runs_of_changed_days.*
    from runs_of_changed_days
    inner join changed_groups
        on {{ same_group('runs_of_changed_days', 'changed_groups', ['activity_minute', 'cluster', 'task_name']) }}

),

{%- else -%}

runs as (

    select *, date_trunc('minute', activity_at) as activity_minute from {{ runs }}

),

{%- endif %}

outcomes as (

    select
        activity_minute,
        cluster,
        task_name,
        case when is_failure then coalesce(exception_type, 'unknown') end as exception_type,
        count(*) filter (where is_finished) as finished_runs,
        count(*) filter (where is_failure) as failures,
        max(dlt_load_id) as latest_dlt_load_id

    from runs
    group by 1, 2, 3, 4

),

final as (

    {% if incremental -%}
    -- every changed group; one whose runs all left it comes empty, and replace_groups deletes it
    select
        changed_groups.activity_minute,
        changed_groups.cluster,
        changed_groups.task_name,
        outcomes.exception_type,
        outcomes.finished_runs,
        outcomes.failures,
        outcomes.latest_dlt_load_id
    from changed_groups
    left join outcomes
        on {{ same_group('changed_groups', 'outcomes', ['activity_minute', 'cluster', 'task_name']) }}
    {%- else -%}
    select * from outcomes
    {%- endif %}

)

select * from final
