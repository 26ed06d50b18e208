{{
    config(
        severity='warn',
        store_failures=true,
        schema='marts',
        alias='tasks_in_custom_states',
    )
}}
{#-
    Warns, never fails: tasks whose latest state is none of Celery's own, one row per cluster and state with
    the tasks in it (a task reporting progress shows PROGRESS while it runs). They load, count as in progress
    and in no failure rate (fct_task_runs.outcome); this says which they are. The rows are kept in
    marts.tasks_in_custom_states (store_failures), rewritten by every build.
-#}
with

custom as (

    select
        cluster,
        state,
        task_id,
        task_name,
        activity_at,
        row_number() over (partition by cluster, state order by activity_at desc, task_id) as recency_rank

    from {{ ref('fct_task_runs') }}
    where is_custom_state

)

select
    cluster,
    state,
    count(*) as tasks,
    string_agg(distinct task_name, ', ' order by task_name) as task_names,
    -- the latest ones, enough to look a few up in Flower rather than a list of millions
    string_agg(task_id, ', ' order by task_id) filter (where recency_rank <= 20) as latest_task_ids,
    min(activity_at) as first_activity_at,
    max(activity_at) as last_activity_at

from custom
group by cluster, state
