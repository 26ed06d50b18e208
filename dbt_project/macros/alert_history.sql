{#-
    The body of an alert history (task_failure_alert_history, operations_alert_history): the events since the
    last build of `this`, from `alerts` (a relation with one row per watched subject, `alert_level` null when
    fine). An alert is identified by `keys` (e.g. ['cluster', 'task_name']); it opens when its row alerts and
    its last event is not an open one, and resolves when its row no longer alerts or is gone (then with no
    figures). `judged_at` is the column of `alerts` that says when a row was judged (its opened_at and
    event_at); `alert_id` an expression over `alerts` naming the alert. Columns: event_id, alert_id, the
    keys, event, opened_at, alert_level, event_at, the `figures`.
-#}
{% macro alert_history(alerts, keys, figures, judged_at, alert_id) -%}
{%- set incremental = is_incremental() -%}
{%- set same_alert -%}
    {%- for key in keys %}{{ ' and ' if not loop.first }}open_alerts.{{ key }} = alerts.{{ key }}{% endfor -%}
{%- endset %}

with

alerts as (

    select * from {{ alerts }}

),

{% if incremental -%}

last_events as (

    select {{ keys | join(', ') }}, alert_id, event, opened_at, alert_level, event_at from (
        select
            *,
            row_number() over (partition by {{ keys | join(', ') }} order by event_id desc) as recency_rank
        from {{ this }}
    ) as ranked
    where recency_rank = 1

),

{%- else -%}

last_events as (

    select
        {%- for key in keys %}
        cast(null as varchar) as {{ key }},
        {%- endfor %}
        cast(null as varchar) as alert_id,
        cast(null as varchar) as event,
        cast(null as timestamp with time zone) as opened_at,
        cast(null as varchar) as alert_level,
        cast(null as timestamp with time zone) as event_at
    where false

),

{%- endif %}

open_alerts as (

    select * from last_events
    where event = 'opened'

),

opened as (

    select
        {{ alert_id }} as alert_id,
        {%- for key in keys %}
        alerts.{{ key }},
        {%- endfor %}
        'opened' as event,
        alerts.{{ judged_at }} as opened_at,
        alerts.alert_level,
        alerts.{{ judged_at }} as event_at,
        {%- for column in figures %}
        alerts.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}

    from alerts
    left join last_events
        on {{ same_alert | replace('open_alerts.', 'last_events.') }}
    where alerts.alert_level is not null
        and last_events.event is distinct from 'opened'
        -- resolved at this very judgement (a var changed, no new data): it opens again with the next one,
        -- so an alert id (subject@judged_at) names one alert
        and last_events.event_at is distinct from alerts.{{ judged_at }}

),

resolved as (

    select
        open_alerts.alert_id,
        {%- for key in keys %}
        open_alerts.{{ key }},
        {%- endfor %}
        'resolved' as event,
        open_alerts.opened_at,
        open_alerts.alert_level,
        -- when its row was judged; a row gone: its cluster's latest judgement, or the latest of all
        coalesce(
            alerts.{{ judged_at }},
            (select max(latest.{{ judged_at }}) from alerts as latest where latest.cluster = open_alerts.cluster),
            (select max(latest.{{ judged_at }}) from alerts as latest)
        ) as event_at,
        {%- for column in figures %}
        alerts.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}

    from open_alerts
    left join alerts
        on {{ same_alert }}
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
            + row_number() over (order by events.event, {% for key in keys %}events.{{ key }}{{ ', ' if not loop.last }}{% endfor %}) as event_id,
        events.*

    from events

)

select * from final
{%- endmacro %}
