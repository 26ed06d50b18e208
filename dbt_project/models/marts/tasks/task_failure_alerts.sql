{#-
    Failure spikes: per cluster and task name (one task name in two clusters is two tasks), its failures in the alert window (the last `alert_window_minutes` whole
    minutes up to the latest task activity in the data) against its baseline (the `alert_baseline_days`
    before the window). An alert needs volume (`alert_min_runs` finished runs and `alert_min_failures`
    failures in the window) and a rate clearly above the baseline: the lower end of the window rate's
    Wilson score interval (`alert_confidence_z`) above the baseline rate by `alert_warn_rate_increase`
    (warn) or `alert_error_rate_increase` (error). The Wilson bound is what makes 1 of 1 too little to tell
    and 3 of 3 on a task that never fails enough. A table rebuilt on every build from the per-minute
    outcomes (a week of minutes per task, whatever the history) and the window's failures.
-#}
{%- set window_minutes = var('alert_window_minutes') | int -%}
{%- set z = var('alert_confidence_z') | float -%}
{%- set silenced -%}
    {%- for task in var('alert_silenced_tasks') -%}
        '{{ task | replace("'", "''") }}'{{ ', ' if not loop.last }}
    {%- else -%}
        null
    {%- endfor -%}
{%- endset %}

with

outcomes as (

    select activity_minute, cluster, task_name, exception_type, finished_runs, failures
    from {{ built_ref('int_task_outcomes_per_minute', [
        ['activity_minute', 'timestamp with time zone'], ['cluster', 'varchar'], ['task_name', 'varchar'], ['exception_type', 'varchar'],
        ['finished_runs', 'bigint'], ['failures', 'bigint'],
    ]) }}

),

runs as (

    select cluster, task_name, is_failure, exception_type, exception_message, activity_at, task_id
    from {{ built_ref('fct_task_runs', [
        ['cluster', 'varchar'], ['task_name', 'varchar'], ['is_failure', 'boolean'], ['exception_type', 'varchar'],
        ['exception_message', 'varchar'], ['activity_at', 'timestamp with time zone'], ['task_id', 'varchar'],
    ]) }}

),

impact as (

    select cluster, task_name, impacted_table, depth
    from {{ ref('task_failure_impact') }}

),

task_tables as (

    {{ task_table_map_rows() }}

),

bounds as (

    select
        date_trunc('minute', max(activity_at)) - interval '1 minute' * {{ window_minutes - 1 }} as window_start_at,
        max(activity_at) as window_end_at

    from runs

),

periods as (

    select
        window_start_at,
        window_end_at,
        window_start_at - interval '1 day' * {{ var('alert_baseline_days') }} as baseline_start_at

    from bounds

),

counted as (

    -- bigint on both engines (PostgreSQL sums a bigint to numeric, DuckDB to int128)
    select
        outcomes.cluster,
        outcomes.task_name,
        {%- for period, condition in [('window', '>='), ('baseline', '<')] %}
        cast(sum(outcomes.finished_runs) filter (
            where outcomes.activity_minute {{ condition }} periods.window_start_at) as bigint) as {{ period }}_runs,
        cast(sum(outcomes.failures) filter (
            where outcomes.activity_minute {{ condition }} periods.window_start_at) as bigint) as {{ period }}_failures
        {{- ',' if not loop.last }}
        {%- endfor %}

    from outcomes
    cross join periods
    where outcomes.activity_minute >= periods.baseline_start_at
    group by 1, 2

),

baseline_exception_types as (

    select distinct outcomes.cluster, outcomes.task_name, outcomes.exception_type
    from outcomes
    cross join periods
    where outcomes.failures > 0
        and outcomes.activity_minute >= periods.baseline_start_at
        and outcomes.activity_minute < periods.window_start_at

),

window_signatures as (

    -- the window's failures by exception type, the most frequent first (of as many, the first by name)
    select
        runs.cluster,
        runs.task_name,
        coalesce(runs.exception_type, 'unknown') as exception_type,
        count(*) as failures,
        {{ value_at_max('runs.exception_message', ['runs.activity_at', 'runs.task_id']) }} as latest_message,
        row_number() over (
            partition by runs.cluster, runs.task_name order by count(*) desc, coalesce(runs.exception_type, 'unknown')
        ) as frequency_rank

    from runs
    cross join periods
    where runs.is_failure
        and runs.activity_at >= periods.window_start_at
    group by 1, 2, 3

),

at_risk as (

    select
        cluster,
        task_name,
        count(*) as tables_at_risk_count,
        {{ tables_at_risk_list('impacted_table', 'depth') }} as tables_at_risk

    from impact
    group by 1, 2

),

rated as (

    select
        counted.cluster,
        counted.task_name,
        periods.window_start_at,
        periods.window_end_at,
        coalesce(counted.window_runs, 0) as window_runs,
        coalesce(counted.window_failures, 0) as window_failures,
        periods.baseline_start_at,
        coalesce(counted.baseline_runs, 0) as baseline_runs,
        coalesce(counted.baseline_failures, 0) as baseline_failures

    from counted
    cross join periods
    where counted.window_runs > 0

),

bounded as (

    select
        *,
        cast(window_failures as double precision) / window_runs as window_failure_rate,
        -- Wilson score interval, lower end: (p + z²/2n − z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)
        (
            cast(window_failures as double precision) / window_runs + {{ z * z }} / (2.0 * window_runs)
            - {{ z }} * sqrt(
                (cast(window_failures as double precision) / window_runs)
                * (1 - cast(window_failures as double precision) / window_runs) / window_runs
                + {{ z * z }} / (4.0 * window_runs * window_runs)
            )
        ) / (1 + {{ z * z }} / window_runs) as window_failure_rate_lower_bound,
        case
            when baseline_runs > 0 then cast(baseline_failures as double precision) / baseline_runs else 0
        end as baseline_failure_rate

    from rated

),

known_tasks as (

    -- the tasks task_table_map names: a row of their cluster's or one for any cluster
    select distinct
        rated.cluster,
        rated.task_name

    from rated
    inner join task_tables
        on {{ maps_task('task_tables', 'rated') }}

),

final as (

    select
        -- text columns typed here: before Flower's first load they come from empty stand-ins, and the
        -- history appended from this table must keep one type (PostgreSQL tells varchar from text)
        cast(bounded.cluster as varchar) as cluster,
        cast(bounded.task_name as varchar) as task_name,
        bounded.window_start_at,
        bounded.window_end_at,
        bounded.window_runs,
        bounded.window_failures,
        bounded.window_failure_rate,
        bounded.window_failure_rate_lower_bound,
        bounded.baseline_start_at,
        bounded.baseline_runs,
        bounded.baseline_failures,
        bounded.baseline_failure_rate,
        cast(top_signature.exception_type as varchar) as top_exception_type,
        cast(top_signature.latest_message as varchar) as top_exception_message,
        coalesce(top_signature.failures, 0) as top_exception_failures,
        top_signature.exception_type is not null
            and baseline_exception_types.exception_type is null as is_new_exception_type,
        known_tasks.task_name is not null as has_known_tables,
        coalesce(at_risk.tables_at_risk_count, 0) as tables_at_risk_count,
        cast(at_risk.tables_at_risk as varchar) as tables_at_risk,
        coalesce(bounded.task_name in ({{ silenced }}), false) as is_silenced,
        cast(
            case
                when bounded.window_runs < {{ var('alert_min_runs') }}
                    or bounded.window_failures < {{ var('alert_min_failures') }}
                    or bounded.task_name in ({{ silenced }})
                    then null
                when bounded.window_failure_rate_lower_bound
                    > bounded.baseline_failure_rate + {{ var('alert_error_rate_increase') }} then 'error'
                when bounded.window_failure_rate_lower_bound
                    > bounded.baseline_failure_rate + {{ var('alert_warn_rate_increase') }} then 'warn'
            end as varchar
        ) as alert_level

    from bounded
    left join window_signatures as top_signature
        on bounded.cluster = top_signature.cluster
        and bounded.task_name = top_signature.task_name
        and top_signature.frequency_rank = 1
    left join baseline_exception_types
        on top_signature.cluster = baseline_exception_types.cluster
        and top_signature.task_name = baseline_exception_types.task_name
        and top_signature.exception_type = baseline_exception_types.exception_type
    left join known_tasks
        on bounded.cluster = known_tasks.cluster
        and bounded.task_name = known_tasks.task_name
    left join at_risk
        on bounded.cluster = at_risk.cluster
        and bounded.task_name = at_risk.task_name

)

select * from final
