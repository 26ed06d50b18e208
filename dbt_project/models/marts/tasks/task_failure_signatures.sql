{{
    config(
        materialized='incremental',
        incremental_strategy='replace_groups',
        unique_key=['cluster', 'task_name', 'exception_type'],
        on_schema_change='fail',
    )
}}
-- One row per cluster, task name and exception class among failed runs ('unknown' when Flower gave no parsable class).
{%- set runs = ref('fct_task_runs') -%}
{%- set changes = ref('int_task_run_changes') -%}
{%- set incremental = is_incremental() -%}
{%- set watermark = max_load_id(this, 'latest_dlt_load_id') if incremental %}

with

{% if incremental -%}

-- the groups changed since the last build: where the failures loaded since are now, and where they were
changed_groups as (

    select cluster, task_name, coalesce(exception_type, 'unknown') as exception_type from {{ runs }}
    where dlt_load_id > {{ watermark }} and is_failure

    union

    select cluster, task_name, coalesce(exception_type, 'unknown') as exception_type from {{ changes }}
    where changed_in_load_id > {{ watermark }} and is_failure

),

failures as (

    select runs.*
    from {{ runs }} as runs
    inner join changed_groups
        on runs.cluster = changed_groups.cluster
        and runs.task_name is not distinct from changed_groups.task_name
        and coalesce(runs.exception_type, 'unknown') = changed_groups.exception_type
    where runs.is_failure

),

{%- else -%}

failures as (

    select * from {{ runs }}
    where is_failure

),

{%- endif %}

signatures as (

    select
        cluster,
        task_name,
        coalesce(exception_type, 'unknown') as exception_type,
        count(*) as failures,
        min(activity_at) as first_seen_at,
        max(activity_at) as last_seen_at,
        -- the latest failure's message (of two at the same time, the one with the greater task id)
        {{ value_at_max('exception_message', ['activity_at', 'task_id']) }} as sample_message,
        count(distinct exception_message) as distinct_messages,
        string_agg(distinct exception_class_path, ', ' order by exception_class_path) as exception_class_paths,
        max(dlt_load_id) as latest_dlt_load_id

    from failures
    group by 1, 2, 3

),

final as (

    {% if incremental -%}
    -- every changed group; one whose failures all left it comes empty, and replace_groups deletes it
    select
        changed_groups.cluster,
        changed_groups.task_name,
        changed_groups.exception_type,
        {%- for column in ['failures', 'first_seen_at', 'last_seen_at', 'sample_message', 'distinct_messages',
                           'exception_class_paths', 'latest_dlt_load_id'] %}
        signatures.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from changed_groups
    left join signatures
        on changed_groups.cluster = signatures.cluster
        and changed_groups.task_name is not distinct from signatures.task_name
        and changed_groups.exception_type = signatures.exception_type
    {%- else -%}
    select * from signatures
    {%- endif %}

)

select * from final
