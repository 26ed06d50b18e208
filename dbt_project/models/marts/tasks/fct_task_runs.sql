{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='task_id',
        on_schema_change='fail',
        pre_hook="{{ assert_changes_logged() }}",
    )
}}
{#-
    Incremental: only the tasks loaded since the last build (dlt gives a changed task a new load id), merged
    on task_id. int_task_run_changes must have logged the rows they replace first (the task marts recompute
    the groups those rows counted in): it is built before this model, and a build without it stops at the
    pre-hook.
-#}
{%- set tasks = ref('stg_flower__tasks') -%}
{%- set incremental = is_incremental() -%}
{%- set watermark = max_load_id(this, 'dlt_load_id') if incremental %}

with

tasks as (

    select * from {{ tasks }}
    {%- if incremental %}
    where dlt_load_id > {{ watermark }}
    {%- endif %}

),

exceptions as (

    {{ select_parsed_exceptions('tasks') }}

),

timed as (

    select
        *,
        -- the time of the final state; null while the task has not finished
        case state
            when 'SUCCESS' then succeeded_at
            when 'FAILURE' then failed_at
            when 'REVOKED' then revoked_at
            when 'REJECTED' then rejected_at
        end as finished_at

    from tasks

),

final as (

    select
        timed.task_id,
        timed.task_name,
        timed.state,
        timed.worker,
        timed.received_at,
        timed.started_at,
        timed.finished_at,
        coalesce(timed.runtime_s, {{ seconds_between('timed.started_at', 'timed.finished_at') }}) as runtime_s,
        {{ seconds_between('timed.received_at', 'timed.started_at') }} as queue_wait_s,
        timed.retries,
        exceptions.exception_type,
        exceptions.exception_message,
        exceptions.exception_class_path,
        timed.state = 'FAILURE' as is_failure,
        timed.state = 'SUCCESS' as is_success,
        timed.finished_at is not null as is_finished,
        timed.retries > 0 as is_retried,
        -- when the run last did something: what days and failure windows are counted by
        coalesce(timed.finished_at, timed.started_at, timed.received_at, timed.last_event_at) as activity_at,
        cast(
            timezone('UTC', coalesce(timed.finished_at, timed.started_at, timed.received_at, timed.last_event_at))
            as date
        ) as activity_day,
        timed.last_event_at,
        timed.retried_at,
        timed.routing_key,
        timed.root_id,
        timed.parent_id,
        timed.exception,
        timed.dlt_load_id

    from timed
    left join exceptions
        on timed.task_id = exceptions.task_id

)

select * from final
