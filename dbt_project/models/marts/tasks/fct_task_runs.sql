{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['cluster', 'task_id'],
        on_schema_change='fail',
        pre_hook="{{ assert_changes_logged() }}",
    )
}}
{#-
    Incremental: only the tasks loaded since the last build (dlt gives a changed task a new load id), merged
    on (cluster, task_id): a task id is unique within its cluster only. int_task_run_changes must have logged
    the rows they replace first (the task marts recompute the groups those rows counted in): it is built
    before this model, and a build without it stops at the pre-hook.
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

classified as (

    select
        timed.*,
        exceptions.exception_type,
        exceptions.exception_message,
        exceptions.exception_class_path,
        exceptions.exception_parsed_from,
        -- a state Celery does not define (a missing one included): in progress, named by a warn-level test
        coalesce(timed.state not in ({{ "'" ~ celery_states() | join("', '") ~ "'" }}), true) as is_custom_state,
        -- what happened, from the state and what the task's fields add to it (documented in fct_task_runs.yml)
        case
            when timed.state = 'SUCCESS' then 'succeeded'
            when timed.state = 'FAILURE' then
                case
                    when exceptions.exception_type in ('TimeLimitExceeded', 'SoftTimeLimitExceeded') then 'timed_out'
                    when exceptions.exception_type = 'WorkerLostError' then 'lost'
                    when exceptions.exception_type = 'Reject' then 'rejected'
                    else 'failed'
                end
            when timed.state = 'REJECTED' then 'rejected'
            when timed.state = 'REVOKED' then
                case
                    -- a worker revokes a task it receives after its expiry time: work silently not done
                    when timed.expires_at <= coalesce(timed.revoked_at, timed.last_event_at) then 'expired'
                    when timed.started_at is not null then 'terminated'
                    else 'revoked'
                end
            when timed.state = 'RETRY' then 'retried'
            when timed.state = 'IGNORED' then 'ignored'
            -- PENDING, RECEIVED, STARTED and any custom state (PROGRESS from update_state/send_event)
            else 'in_progress'
        end as outcome

    from timed
    left join exceptions
        on timed.cluster = exceptions.cluster
        and timed.task_id = exceptions.task_id

),

final as (

    select
        cluster,
        task_id,
        -- a task revoked before any worker received it has no name in Flower
        coalesce(task_name, '{{ unnamed_task_name() }}') as task_name,
        state,
        outcome,
        worker,
        received_at,
        started_at,
        finished_at,
        coalesce(runtime_s, {{ seconds_between('started_at', 'finished_at') }}) as runtime_s,
        -- from the ETA/countdown when there is one: the delay the client asked for is no queue wait
        {{ seconds_between('greatest(received_at, eta_at)', 'started_at') }} as queue_wait_s,
        retries,
        exception_type,
        exception_message,
        exception_class_path,
        exception_parsed_from,
        coalesce(state = 'FAILURE', false) as is_failure,
        coalesce(state = 'SUCCESS', false) as is_success,
        finished_at is not null as is_finished,
        retries > 0 as is_retried,
        is_custom_state,
        -- what runtime percentiles count: runs the time limit, a revoke or a lost worker did not cut short
        outcome in ('succeeded', 'failed', 'rejected') as ran_to_end,
        -- when the run last did something: what days and failure windows are counted by
        coalesce(finished_at, started_at, received_at, last_event_at) as activity_at,
        cast(
            timezone('UTC', coalesce(finished_at, started_at, received_at, last_event_at))
            as date
        ) as activity_day,
        last_event_at,
        retried_at,
        eta_at,
        expires_at,
        revoked_at,
        routing_key,
        root_id,
        parent_id,
        exception,
        dlt_load_id

    from classified

)

select * from final
