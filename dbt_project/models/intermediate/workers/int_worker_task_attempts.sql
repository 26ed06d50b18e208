{{
    config(
        materialized='incremental',
        incremental_strategy='replace_groups',
        unique_key=['cluster', 'task_id'],
        on_schema_change='fail',
    )
}}
-- Task attempts the loaded tasks show each worker started, and when: what the workers' processed counters
-- (one count per accepted attempt, retries included) should match. Incremental: the tasks loaded since the
-- last build replace all their rows (a changed task without attempts now leaves an empty row, which drops
-- its old ones).
{%- set incremental = is_incremental() -%}
{%- set watermark = max_load_id(this, 'latest_dlt_load_id') if incremental %}

with

tasks as (

    select * from {{ ref('stg_flower__tasks') }}
    {%- if incremental %}
    where dlt_load_id > {{ watermark }}
    {%- endif %}

),

counted as (

    select
        cluster,
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
        retried_at,
        dlt_load_id

    from tasks
    where worker is not null

),

split as (

    -- Flower keeps only the latest start and the latest retry: the latest attempt counts at its start,
    -- the earlier ones at the last retry, before which they all began
    select
        cluster,
        task_id,
        worker,
        true as is_latest_attempt,
        latest_attempt_at as attempt_at,
        1 as attempts,
        dlt_load_id as latest_dlt_load_id

    from counted
    where attempts_started >= 1

    union all

    select
        cluster,
        task_id,
        worker,
        false as is_latest_attempt,
        least(retried_at, latest_attempt_at) as attempt_at,
        attempts_started - 1 as attempts,
        dlt_load_id as latest_dlt_load_id

    from counted
    where attempts_started >= 2

)

{% if incremental -%}
select * from split

union all

-- a changed task that shows no attempt now: an empty row, so its earlier rows go
select
    cluster,
    task_id,
    cast(null as varchar) as worker,
    cast(null as boolean) as is_latest_attempt,
    cast(null as timestamp with time zone) as attempt_at,
    cast(null as integer) as attempts,
    cast(null as varchar) as latest_dlt_load_id
from tasks
where not exists (
    select 1 from split
    where split.cluster = tasks.cluster and split.task_id = tasks.task_id
)
{%- else -%}
select * from split
{%- endif %}
