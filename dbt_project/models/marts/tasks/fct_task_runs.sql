with

tasks as (

    select * from {{ ref('stg_flower__tasks') }}

),

exceptions as (

    select * from {{ ref('int_task_exceptions_parsed') }}

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
        coalesce(timed.runtime_s, epoch(timed.finished_at) - epoch(timed.started_at)) as runtime_s,
        epoch(timed.started_at) - epoch(timed.received_at) as queue_wait_s,
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
        timed.exception

    from timed
    left join exceptions
        on timed.task_id = exceptions.task_id

)

select * from final
