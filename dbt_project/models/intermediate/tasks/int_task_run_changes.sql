{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['cluster', 'task_id', 'changed_in_load_id'],
        on_schema_change='fail',
        pre_hook="{{ prune_consumed_changes() }}",
        meta={'change_log_of': 'fct_task_runs'},
    )
}}
{#-
    The change log of fct_task_runs, built just before it (fct_task_runs refs it): for every task loaded
    since fct_task_runs was last built that it already holds, the row as it holds it now, i.e. the keys
    under which the task marts counted the task so far. They recompute those groups too, so a run that
    moves (to another day, out of the failures, to another exception type) leaves its old group.

    Reads fct_task_runs as built: the model its meta `change_log_of` names, so the macros that treat the
    log specially (prune_consumed_changes) find it there, not by name (a ref would be a cycle). Entries
    every task mart has used are deleted (prune_consumed_changes). A rebuild in full logs nothing:
    everything downstream then rebuilds in full too (see macros/incremental/build_state.sql).
-#}
{%- set columns = [
    ['task_name', 'varchar'],
    ['state', 'varchar'],
    ['worker', 'varchar'],
    ['is_failure', 'boolean'],
    ['exception_type', 'varchar'],
    ['received_at', 'timestamp with time zone'],
    ['started_at', 'timestamp with time zone'],
    ['finished_at', 'timestamp with time zone'],
    ['retried_at', 'timestamp with time zone'],
    ['retries', 'bigint'],
    ['activity_at', 'timestamp with time zone'],
    ['activity_day', 'date'],
] -%}
{%- set tasks = ref('stg_flower__tasks') -%}
{%- set runs_as_built = built_relation(config.get('meta')['change_log_of']) if is_incremental() else none %}

with

{% if runs_as_built is none -%}

logged as (

    select
        cast(null as varchar) as cluster,
        cast(null as varchar) as task_id,
        cast(null as varchar) as changed_in_load_id,
        cast(null as varchar) as previous_load_id,
        {%- for name, data_type in columns %}
        cast(null as {{ data_type }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    where false

)

{%- else -%}

runs_as_built as (

    select * from {{ runs_as_built }} as built

),

changed_tasks as (

    select cluster, task_id, dlt_load_id from {{ tasks }}
    where dlt_load_id > {{ max_load_id(runs_as_built, 'dlt_load_id') }}

),

logged as (

    select
        changed_tasks.cluster,
        changed_tasks.task_id,
        changed_tasks.dlt_load_id as changed_in_load_id,
        runs_as_built.dlt_load_id as previous_load_id,
        {%- for name, data_type in columns %}
        cast(runs_as_built.{{ name }} as {{ data_type }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}

    from changed_tasks
    inner join runs_as_built
        on changed_tasks.cluster = runs_as_built.cluster
        and changed_tasks.task_id = runs_as_built.task_id

)

{%- endif %}

select * from logged
