{#-
    Tables at risk from recently failing tasks, per cluster and task name: every table a task failed writing
    (depth 0, from the seed task_table_map: its rows for the task's cluster and those for any cluster) and
    everything downstream of it (depth >= 1, from lineage_impact, shared by all clusters). Before a source's
    first load its side reads as empty (built_ref): no failures yet, or no lineage yet (depth 0 only).
    "Recently" = failures in the `failure_window_days` (default 7) before the latest task activity in the
    data, not before now: the result only depends on the loaded data (stable for tests and backfills).
-#}
with

runs as (

    select cluster, task_name, is_failure, activity_at
    from {{ built_ref('fct_task_runs', [
        ['cluster', 'varchar'], ['task_name', 'varchar'], ['is_failure', 'boolean'],
        ['activity_at', 'timestamp with time zone'],
    ]) }}

),

task_tables as (

    {{ task_table_map_rows() }}

),

impact as (

    select table_name, downstream_table, depth
    from {{ built_ref('lineage_impact', [['table_name', 'varchar'], ['downstream_table', 'varchar'], ['depth', 'integer']]) }}

),

window_bounds as (

    select
        max(activity_at) - interval '1 day' * {{ var('failure_window_days') }} as window_start_at,
        max(activity_at) as window_end_at

    from runs

),

recent_failures as (

    select
        runs.cluster,
        runs.task_name,
        count(*) as failures,
        min(runs.activity_at) as first_failure_at,
        max(runs.activity_at) as last_failure_at

    from runs
    cross join window_bounds
    where runs.is_failure
        and runs.activity_at >= window_bounds.window_start_at
    group by 1, 2

),

nearest as (

    {{ tables_reached('recent_failures') }}

),

final as (

    select
        nearest.cluster,
        nearest.task_name,
        nearest.impacted_table,
        nearest.depth,
        nearest.written_table,
        recent_failures.failures,
        recent_failures.first_failure_at,
        recent_failures.last_failure_at,
        window_bounds.window_start_at,
        window_bounds.window_end_at

    from nearest
    inner join recent_failures
        on nearest.cluster = recent_failures.cluster
        and nearest.task_name = recent_failures.task_name
    cross join window_bounds

)

select * from final
