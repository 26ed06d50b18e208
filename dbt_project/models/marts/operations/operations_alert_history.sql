{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=false,
    )
}}
{#-
    When each operations alert opened and resolved: a row per change of operations_alerts between two builds,
    with the figures at that moment. An alert is a rule's, for one subject of one cluster: (rule, cluster,
    subject) is its identity. Appended to, never rebuilt (full_refresh=false: its rows cannot be derived
    again). It opens when its row alerts and its last event is not an open one; it resolves when its row no
    longer alerts or is gone (then with no figures: nothing of it is watched any more).
-#}
{%- set figures = [
    'since_at', 'due_at', 'schedule', 'schedule_source', 'interval_seconds', 'threshold_seconds', 'age_seconds',
    'task_count', 'lost_task_count', 'sample_task_ids', 'messages', 'messages_before', 'tables_at_risk',
    'has_known_tables',
] -%}
{%- set incremental = is_incremental() %}

with

alerts as (

    select * from {{ ref('operations_alerts') }}

),

{% if incremental -%}

open_alerts as (

    select rule, cluster, subject, alert_id, opened_at, alert_level from (
        select
            *,
            row_number() over (partition by rule, cluster, subject order by event_id desc) as recency_rank
        from {{ this }}
    ) as ranked
    where recency_rank = 1
        and event = 'opened'

),

{%- else -%}

open_alerts as (

    select
        cast(null as varchar) as rule,
        cast(null as varchar) as cluster,
        cast(null as varchar) as subject,
        cast(null as varchar) as alert_id,
        cast(null as timestamp with time zone) as opened_at,
        cast(null as varchar) as alert_level
    where false

),

{%- endif %}

opened as (

    select
        -- rule:cluster/subject@epoch
        alerts.rule || ':' || alerts.cluster || '/' || alerts.subject || '@'
        || cast(cast(extract(epoch from alerts.observed_at) as bigint) as varchar) as alert_id,
        alerts.rule,
        alerts.cluster,
        alerts.subject,
        'opened' as event,
        alerts.observed_at as opened_at,
        alerts.alert_level,
        alerts.observed_at as event_at,
        {%- for column in figures %}
        alerts.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}

    from alerts
    left join open_alerts
        on alerts.rule = open_alerts.rule
        and alerts.cluster = open_alerts.cluster
        and alerts.subject = open_alerts.subject
    where alerts.alert_level is not null
        and open_alerts.subject is null

),

resolved as (

    select
        open_alerts.alert_id,
        open_alerts.rule,
        open_alerts.cluster,
        open_alerts.subject,
        'resolved' as event,
        open_alerts.opened_at,
        open_alerts.alert_level,
        coalesce(alerts.observed_at, latest.observed_at, current_timestamp) as event_at,
        {%- for column in figures %}
        alerts.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}

    from open_alerts
    left join alerts
        on open_alerts.rule = alerts.rule
        and open_alerts.cluster = alerts.cluster
        and open_alerts.subject = alerts.subject
    left join (select cluster, max(observed_at) as observed_at from alerts group by 1) as latest
        on open_alerts.cluster = latest.cluster
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
            + row_number() over (order by events.event, events.rule, events.cluster, events.subject) as event_id,
        events.*

    from events

)

select * from final
