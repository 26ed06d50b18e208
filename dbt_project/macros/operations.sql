{#- The declared schedules of seed task_schedules, as task_table_map_rows reads its map (cluster optional). -#}
{% macro task_schedule_rows() -%}
    select
        cast(seed.task_name as varchar) as task_name,
        trim(cast(seed.schedule as varchar)) as schedule,
        cast(seed.grace_seconds as double precision) as grace_seconds,
        nullif(trim(lower({{ optional_field('seed', 'cluster') }})), '') as cluster
    from {{ ref('task_schedules') }} as seed
{%- endmacro %}


{#-
    Seconds of an interval written as `20 seconds`, `5 min`, `1 hour`, `2 days`, `90` (seconds) or `1.5 h`;
    null for anything else (a cron expression among them).
-#}
{% macro interval_seconds(text) -%}
    {%- set pattern = "'^\\s*([0-9]+(\\.[0-9]+)?)\\s*(s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?)?\\s*$'" -%}
    case when {{ regexp_group(text, pattern, 1) }} <> '' then
        cast({{ regexp_group(text, pattern, 1) }} as double precision)
        * case left({{ regexp_group(text, pattern, 3) }}, 1)
            when 'm' then 60 when 'h' then 3600 when 'd' then 86400 else 1
        end
    end
{%- endmacro %}


{#- True when the comma-joined id list `ids` (a worker snapshot's task ids) holds `task_id`. -#}
{% macro id_listed(ids, task_id) -%}
    coalesce(strpos(',' || {{ ids }} || ',', ',' || {{ task_id }} || ',') > 0, false)
{%- endmacro %}


{#- True when `name` matches one of `patterns` (a dbt var: a list of names with * wildcards). -#}
{% macro matches_any(name, patterns) -%}
    {%- for pattern in patterns -%}
        {{ name }} like '{{ pattern | replace("'", "''") | replace('\\', '\\\\') | replace('%', '\\%') | replace('_', '\\_') | replace('*', '%') }}' escape '\'
        {{- ' or ' if not loop.last }}
    {%- else -%}
        false
    {%- endfor -%}
{%- endmacro %}


{#-
    True when an operations_alerts row (`row`: rule and subject) is silenced by `alert_silenced_tasks`: a task
    name, `worker:<name>` or `queue:<name>`, with `*` wildcards.
-#}
{% macro subject_silenced(row) -%}
    ({{ matches_any(
        "case " ~ row ~ ".rule when 'worker_offline' then 'worker:' when 'queue_backlog' then 'queue:' else '' end || "
        ~ row ~ ".subject",
        var('alert_silenced_tasks'),
    ) }})
{%- endmacro %}
