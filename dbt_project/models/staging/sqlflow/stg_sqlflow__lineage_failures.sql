{%- set columns = [
    ['code', 'varchar'],
    ['message', 'varchar'],
    ['attempts', 'bigint'],
    ['first_failed_at', 'timestamp with time zone'],
    ['last_failed_at', 'timestamp with time zone'],
    ['next_attempt_at', 'timestamp with time zone'],
    ['resolved_at', 'timestamp with time zone'],
] -%}

with

job_failures as (

    {{ select_source_columns(source('sqlflow', 'job_lineage_failures'), [['job_id', 'varchar']] + columns) }}

),

file_failures as (

    {{ select_source_columns(source('sqlflow', 'query_lineage_failures'), [['sql_file', 'varchar']] + columns) }}

),

unioned as (

    select 'job' as origin_kind, job_id as origin, {{ columns | map('first') | join(', ') }}
    from job_failures

    union all

    select 'sql_file' as origin_kind, sql_file as origin, {{ columns | map('first') | join(', ') }}
    from file_failures

),

final as (

    select
        *,
        resolved_at is null as is_open

    from unioned

)

select * from final
