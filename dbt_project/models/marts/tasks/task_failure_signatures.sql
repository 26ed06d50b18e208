-- One row per task name and exception class among failed runs ('unknown' when Flower gave no parsable class).
with

failures as (

    select * from {{ ref('fct_task_runs') }}
    where is_failure

),

signatures as (

    select
        task_name,
        coalesce(exception_type, 'unknown') as exception_type,
        count(*) as failures,
        min(activity_at) as first_seen_at,
        max(activity_at) as last_seen_at,
        arg_max(exception_message, activity_at) as sample_message,
        count(distinct exception_message) as distinct_messages,
        string_agg(distinct exception_class_path, ', ' order by exception_class_path) as exception_class_paths

    from failures
    group by all

)

select * from signatures
