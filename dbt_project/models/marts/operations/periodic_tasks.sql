{#-
    Periodic tasks and whether each is overdue, per cluster and task name. A task is periodic when its
    schedule is declared (seed task_schedules: an interval or a cron expression, and a grace) or when its
    latest runs (`periodic_learn_runs`, at least `periodic_min_runs`) came at steady gaps: the middle half of
    its gaps (25th to 75th percentile) within `periodic_max_dispersion` of the median gap (robust to the one long
    gap of an outage, so a task that ran again is still periodic), and that median at least
    `periodic_min_interval_seconds` (closer runs are a stream). Irregular tasks never are. It is overdue when
    its cluster's latest capture is past its due time by more than its grace: an interval's run is due
    `interval` after the last run, the grace `periodic_grace_ratio` of it and at least
    `periodic_min_grace_seconds`; a cron's run is due at each firing, and missing when no run came from 30 s
    before it (a beat's clock may run a little ahead) to its grace after. Reads the runs of the last
    `operations_lookback_days` only.
-#}
{%- set learn_runs = var('periodic_learn_runs') | int -%}
{%- set min_grace = var('periodic_min_grace_seconds') | float -%}

with

clocks as (

    select * from {{ ref('int_cluster_clocks') }}

),

runs as (

    select
        runs.cluster,
        runs.task_name,
        -- when the worker took it: what a beat's cadence shows in (a finish time adds the runtime's jitter)
        coalesce(runs.received_at, runs.started_at, runs.activity_at) as run_at

    from {{ ref('fct_task_runs') }} as runs
    inner join clocks
        on runs.cluster = clocks.cluster
    -- the stored day first: it prunes the history before any row is joined
    where runs.activity_day >= (select cast(timezone('UTC', min(lookback_start_at)) as date) - 1 from clocks)
        and runs.activity_at >= clocks.lookback_start_at

),

latest_runs as (

    select
        cluster,
        task_name,
        run_at,
        row_number() over (partition by cluster, task_name order by run_at desc) as recency_rank

    from runs

),

gaps as (

    select
        cluster,
        task_name,
        run_at,
        {{ seconds_between('lag(run_at) over (partition by cluster, task_name order by run_at)', 'run_at') }} as gap_s

    from latest_runs
    where recency_rank <= {{ learn_runs }}

),

cadences as (

    select
        cluster,
        task_name,
        count(*) as runs,
        max(run_at) as last_run_at,
        percentile_cont(0.5) within group (order by gap_s) as median_gap_s,
        percentile_cont(0.25) within group (order by gap_s) as p25_gap_s,
        percentile_cont(0.75) within group (order by gap_s) as p75_gap_s

    from gaps
    group by 1, 2

),

learned as (

    select
        cluster,
        task_name,
        'learned' as schedule_source,
        cast(null as varchar) as schedule,
        median_gap_s as interval_seconds,
        greatest({{ min_grace }}, {{ var('periodic_grace_ratio') }} * median_gap_s) as grace_seconds,
        runs

    from cadences
    where runs >= {{ var('periodic_min_runs') }}
        and median_gap_s >= {{ var('periodic_min_interval_seconds') }}
        and p75_gap_s - p25_gap_s <= {{ var('periodic_max_dispersion') }} * median_gap_s

),

declared_rows as (

    {{ task_schedule_rows() }}

),

declared as (

    -- a row naming a cluster is that cluster's; one without, every cluster's (a cluster's own row wins)
    select cluster, task_name, schedule, interval_seconds, grace_seconds
    from (
        select
            clocks.cluster,
            declared_rows.task_name,
            declared_rows.schedule,
            {{ interval_seconds('declared_rows.schedule') }} as interval_seconds,
            declared_rows.grace_seconds,
            row_number() over (
                partition by clocks.cluster, declared_rows.task_name order by declared_rows.cluster nulls last
            ) as precedence
        from declared_rows
        inner join clocks
            on declared_rows.cluster is null or declared_rows.cluster = clocks.cluster
    ) as ranked
    where precedence = 1

),

schedules as (

    select
        declared.cluster,
        declared.task_name,
        'declared' as schedule_source,
        declared.schedule,
        declared.interval_seconds,
        coalesce(
            declared.grace_seconds,
            greatest({{ min_grace }}, {{ var('periodic_grace_ratio') }} * coalesce(declared.interval_seconds, 0))
        ) as grace_seconds,
        coalesce(cadences.runs, 0) as runs

    from declared
    left join cadences
        on declared.cluster = cadences.cluster
        and declared.task_name = cadences.task_name

    union all

    select learned.*
    from learned
    left join declared
        on learned.cluster = declared.cluster
        and learned.task_name = declared.task_name
    where declared.task_name is null

),

cron_schedules as (

    select schedules.cluster, schedules.task_name, schedules.schedule,
        clocks.observed_at - interval '1 second' * schedules.grace_seconds as due_by
    from schedules
    inner join clocks
        on schedules.cluster = clocks.cluster
    where schedules.schedule_source = 'declared'
        and schedules.interval_seconds is null
        and {{ cron_is_valid('schedules.schedule') }}

),

cron_due as (

    -- read as Celery beat's crontab reads it (both day fields must match), as the schedules declared are beat's
    {{ cron_latest_fire(
        'cron_schedules', 'schedule', ['cluster', 'task_name'], 'due_by', var('operations_lookback_days'),
        day_rule='celery',
    ) }}

),

timed as (

    select
        schedules.*,
        clocks.observed_at,
        cadences.last_run_at,
        case
            when schedules.interval_seconds is not null
                then cadences.last_run_at + interval '1 second' * schedules.interval_seconds
            else cron_due.latest_fire_at
        end as due_at,
        schedules.interval_seconds is null and not {{ cron_is_valid('schedules.schedule') }} as is_unreadable

    from schedules
    inner join clocks
        on schedules.cluster = clocks.cluster
    left join cadences
        on schedules.cluster = cadences.cluster
        and schedules.task_name = cadences.task_name
    left join cron_due
        on schedules.cluster = cron_due.cluster
        and schedules.task_name = cron_due.task_name

),

final as (

    select
        cast(cluster as varchar) as cluster,
        cast(task_name as varchar) as task_name,
        cast(schedule_source as varchar) as schedule_source,
        cast(schedule as varchar) as schedule,
        interval_seconds,
        grace_seconds,
        runs,
        last_run_at,
        due_at,
        observed_at,
        is_unreadable,
        case
            when is_unreadable then false
            -- never ran in what is read: due since the lookback began
            when last_run_at is null then true
            when interval_seconds is not null
                then observed_at > due_at + interval '1 second' * grace_seconds
            else due_at is not null and last_run_at < due_at - interval '30 seconds'
        end as is_overdue

    from timed

)

select * from final
