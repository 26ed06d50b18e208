-- Task attempts the loaded tasks show each worker started, and when: what the workers' processed counters
-- (one count per accepted attempt, retries included) should match.
with

tasks as (

    select * from {{ ref('stg_flower__tasks') }}

),

counted as (

    select
        task_id,
        worker,
        -- `retries` is that of the latest message the worker received (a retry arrives before its
        -- countdown ends); that message has run once its start is at or after its receipt, and a task
        -- that finished ran even when Flower missed its start event
        retries + case
            when state in ('SUCCESS', 'FAILURE') or started_at >= coalesce(received_at, started_at) then 1
            else 0
        end as attempts_started,
        coalesce(started_at, succeeded_at, failed_at, retried_at) as latest_attempt_at,
        retried_at

    from tasks
    where worker is not null

),

split as (

    -- Flower keeps only the latest start and the latest retry: the latest attempt counts at its start,
    -- the earlier ones at the last retry, before which they all began
    select
        task_id,
        worker,
        true as is_latest_attempt,
        latest_attempt_at as attempt_at,
        1 as attempts

    from counted
    where attempts_started >= 1

    union all

    select
        task_id,
        worker,
        false as is_latest_attempt,
        least(retried_at, latest_attempt_at) as attempt_at,
        attempts_started - 1 as attempts

    from counted
    where attempts_started >= 2

)

select * from split
