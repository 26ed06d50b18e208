{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=false,
    )
}}
{#-
    When each failure alert opened and resolved: a row per change of task_failure_alerts between two builds,
    with the figures at that moment. An alert is a cluster's task's: (cluster, task_name) is its identity. Appended to, never rebuilt (full_refresh=false: its rows cannot be
    derived again from the data). An alert opens when a task alerts and its last event is not an open one;
    it resolves when that task no longer alerts (with the figures of the build that saw it go: none when the
    task ran no more in the window).
-#}
{%- set figures = [
    'window_start_at', 'window_runs', 'window_failures', 'window_failure_rate', 'baseline_start_at', 'baseline_runs',
    'baseline_failures', 'baseline_failure_rate', 'top_exception_type', 'top_exception_message',
    'is_new_exception_type', 'has_known_tables', 'tables_at_risk',
] -%}
{%- set incremental = is_incremental() %}

with

alerts as (

    select * from {{ ref('task_failure_alerts') }}

),

{% if incremental -%}

last_events as (

    select * from (
        select
            *,
            row_number() over (partition by cluster, task_name order by event_id desc) as recency_rank
        from {{ this }}
    ) as ranked
    where recency_rank = 1

),

open_alerts as (

    select cluster, task_name, alert_id, opened_at, alert_level from last_events
    where event = 'opened'

),

{%- else -%}

open_alerts as (

    select
        cast(null as varchar) as cluster,
        cast(null as varchar) as task_name,
        cast(null as varchar) as alert_id,
        cast(null as timestamp with time zone) as opened_at,
        cast(null as varchar) as alert_level
    where false

),

{%- endif %}

opened as (

    select
        -- cluster/task@epoch (alerts opened before clusters keep their task@epoch)
        alerts.cluster || '/' || alerts.task_name || '@'
        || cast(cast(extract(epoch from alerts.window_end_at) as bigint) as varchar) as alert_id,
        alerts.cluster,
        alerts.task_name,
        'opened' as event,
        alerts.window_end_at as opened_at,
        alerts.alert_level,
        alerts.window_end_at as event_at,
        {%- for column in figures %}
        alerts.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}

    from alerts
    left join open_alerts
        on alerts.cluster = open_alerts.cluster
        and alerts.task_name = open_alerts.task_name
    where alerts.alert_level is not null
        and open_alerts.task_name is null

),

resolved as (

    select
        open_alerts.alert_id,
        open_alerts.cluster,
        open_alerts.task_name,
        'resolved' as event,
        open_alerts.opened_at,
        open_alerts.alert_level,
        latest.window_end_at as event_at,
        {%- for column in figures %}
        alerts.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}

    from open_alerts
    cross join (select max(window_end_at) as window_end_at from alerts) as latest
    left join alerts
        on open_alerts.cluster = alerts.cluster
        and open_alerts.task_name = alerts.task_name
    where alerts.alert_level is null

),

events as (

    select * from opened
    union all
    select * from resolved

),

final as (

    select
        {%- if incremental %}
        (select coalesce(max(event_id), 0) from {{ this }})
        {%- else %}
        0
        {%- endif %}
            + row_number() over (order by events.event, events.cluster, events.task_name) as event_id,
        events.*

    from events

)

select * from final
