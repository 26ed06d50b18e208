{#-
    The failures that raise no failure, one row per rule and subject at each cluster's latest capture
    (alert_level null: watched, fine now):
    - overdue_periodic_task (subject: a task name): a periodic task past its due time and grace
      (periodic_tasks), with the tables it writes now going stale;
    - stuck_tasks (a task name): its tasks running or waiting beyond their limit, and those lost with
      their worker (stuck_tasks): the count, the oldest age, a few ids, the tables at risk;
    - worker_offline (a worker): down past its tolerance (worker_availability), with the tasks it ran;
    - queue_backlog (a queue): growing at every recent snapshot, or above its threshold (queue_growth).
    operations_alert_history keeps when each opened and resolved; the thresholds are dbt vars
    (dbt_project/README.md). Rebuilt on every build from those marts, which read a bounded lookback.
-#}
{%- set sample_size = 5 -%}

with

periodic as (

    select * from {{ built_ref('periodic_tasks', [
        ['cluster', 'varchar'], ['task_name', 'varchar'], ['schedule_source', 'varchar'], ['schedule', 'varchar'],
        ['interval_seconds', 'double precision'], ['grace_seconds', 'double precision'], ['runs', 'bigint'],
        ['last_run_at', 'timestamp with time zone'], ['due_at', 'timestamp with time zone'],
        ['observed_at', 'timestamp with time zone'], ['is_unreadable', 'boolean'], ['is_overdue', 'boolean'],
    ]) }}

),

stuck as (

    select * from {{ built_ref('stuck_tasks', [
        ['cluster', 'varchar'], ['task_id', 'varchar'], ['task_name', 'varchar'], ['state', 'varchar'],
        ['worker', 'varchar'], ['condition', 'varchar'], ['since_at', 'timestamp with time zone'],
        ['age_seconds', 'double precision'], ['limit_seconds', 'double precision'],
        ['observed_at', 'timestamp with time zone'],
    ]) }}

),

workers as (

    select * from {{ built_ref('worker_availability', [
        ['cluster', 'varchar'], ['worker', 'varchar'], ['is_online', 'boolean'],
        ['last_online_at', 'timestamp with time zone'], ['last_listed_at', 'timestamp with time zone'],
        ['offline_seconds', 'double precision'], ['cluster_online_workers', 'bigint'],
        ['cluster_online_workers_when_last_online', 'bigint'], ['last_active_task_ids', 'varchar'],
        ['is_offline_expected', 'boolean'], ['observed_at', 'timestamp with time zone'], ['is_down', 'boolean'],
    ]) }}

),

queues as (

    select * from {{ built_ref('queue_growth', [
        ['cluster', 'varchar'], ['queue_name', 'varchar'], ['messages', 'bigint'],
        ['messages_at_first_snapshot', 'bigint'], ['snapshots', 'bigint'],
        ['first_snapshot_at', 'timestamp with time zone'], ['observed_at', 'timestamp with time zone'],
        ['is_growing', 'boolean'], ['is_backed_up', 'boolean'],
    ]) }}

),

task_tables as (

    {{ task_table_map_rows() }}

),

impact as (

    select table_name, downstream_table, depth
    from {{ built_ref('lineage_impact', [['table_name', 'varchar'], ['downstream_table', 'varchar'], ['depth', 'integer']]) }}

),

stuck_by_task as (

    select
        cluster,
        task_name,
        max(observed_at) as observed_at,
        min(since_at) as since_at,
        max(age_seconds) as age_seconds,
        min(limit_seconds) as limit_seconds,
        count(*) filter (where condition <> 'worker_lost') as task_count,
        count(*) filter (where condition = 'worker_lost') as lost_task_count,
        string_agg(task_id, ',' order by since_at, task_id) as task_ids

    from stuck
    group by 1, 2

),

subjects as (

    select distinct cluster, task_name from periodic
    where is_overdue
    union
    select distinct cluster, task_name from stuck_by_task

),

reached as (

    {{ tables_reached('subjects') }}

),

at_risk as (

    select cluster, task_name, {{ tables_at_risk_list('impacted_table', 'depth') }} as tables_at_risk
    from reached
    group by 1, 2

),

known_tasks as (

    select distinct subjects.cluster, subjects.task_name
    from subjects
    inner join task_tables
        on {{ maps_task('task_tables', 'subjects') }}

),

alerts as (

    select
        'overdue_periodic_task' as rule,
        cluster,
        task_name as subject,
        case when is_overdue then 'warn' end as alert_level,
        observed_at,
        last_run_at as since_at,
        due_at,
        coalesce(schedule, 'every ' || cast(round(cast(interval_seconds as numeric), 0) as varchar) || ' s') as schedule,
        schedule_source,
        interval_seconds,
        grace_seconds as threshold_seconds,
        {{ seconds_between('last_run_at', 'observed_at') }} as age_seconds,
        cast(null as bigint) as task_count,
        cast(null as bigint) as lost_task_count,
        cast(null as varchar) as sample_task_ids,
        cast(null as bigint) as messages,
        cast(null as bigint) as messages_before

    from periodic

    union all

    select
        'stuck_tasks' as rule,
        cluster,
        task_name as subject,
        case when lost_task_count > 0 then 'error' else 'warn' end as alert_level,
        observed_at,
        since_at,
        null as due_at,
        null as schedule,
        null as schedule_source,
        null as interval_seconds,
        limit_seconds as threshold_seconds,
        age_seconds,
        task_count,
        lost_task_count,
        {{ regexp_group('task_ids', "'^([^,]*(,[^,]*){0," ~ (sample_size - 1) ~ "})'", 1) }} as sample_task_ids,
        null as messages,
        null as messages_before

    from stuck_by_task

    union all

    select
        'worker_offline' as rule,
        cluster,
        worker as subject,
        case when is_down then 'error' end as alert_level,
        observed_at,
        last_online_at as since_at,
        null as due_at,
        null as schedule,
        null as schedule_source,
        null as interval_seconds,
        {{ var('worker_offline_tolerance_minutes') | float * 60 }} as threshold_seconds,
        offline_seconds as age_seconds,
        null as task_count,
        case
            when last_active_task_ids is null then 0
            else 1 + length(last_active_task_ids) - length(replace(last_active_task_ids, ',', ''))
        end as lost_task_count,
        {{ regexp_group('last_active_task_ids', "'^([^,]*(,[^,]*){0," ~ (sample_size - 1) ~ "})'", 1) }} as sample_task_ids,
        null as messages,
        null as messages_before

    from workers

    union all

    select
        'queue_backlog' as rule,
        cluster,
        queue_name as subject,
        case when is_backed_up then 'error' when is_growing then 'warn' end as alert_level,
        observed_at,
        first_snapshot_at as since_at,
        null as due_at,
        null as schedule,
        null as schedule_source,
        null as interval_seconds,
        null as threshold_seconds,
        null as age_seconds,
        snapshots as task_count,
        null as lost_task_count,
        null as sample_task_ids,
        messages,
        messages_at_first_snapshot as messages_before
    from queues

),

final as (

    select
        cast(alerts.rule as varchar) as rule,
        cast(alerts.cluster as varchar) as cluster,
        cast(alerts.subject as varchar) as subject,
        -- silenced (`alert_silenced_tasks`: task names, `worker:<name>`, `queue:<name>`; `*` wildcards): watched, never alerting
        cast(case when not {{ subject_silenced('alerts') }} then alerts.alert_level end as varchar) as alert_level,
        {{ subject_silenced('alerts') }} as is_silenced,
        alerts.observed_at,
        alerts.since_at,
        alerts.due_at,
        cast(alerts.schedule as varchar) as schedule,
        cast(alerts.schedule_source as varchar) as schedule_source,
        cast(alerts.interval_seconds as double precision) as interval_seconds,
        cast(alerts.threshold_seconds as double precision) as threshold_seconds,
        cast(alerts.age_seconds as double precision) as age_seconds,
        alerts.task_count,
        alerts.lost_task_count,
        cast(alerts.sample_task_ids as varchar) as sample_task_ids,
        alerts.messages,
        alerts.messages_before,
        cast(at_risk.tables_at_risk as varchar) as tables_at_risk,
        case
            when alerts.rule in ('overdue_periodic_task', 'stuck_tasks') then known_tasks.task_name is not null
        end as has_known_tables

    from alerts
    left join at_risk
        on alerts.rule in ('overdue_periodic_task', 'stuck_tasks')
        and alerts.cluster = at_risk.cluster
        and alerts.subject = at_risk.task_name
    left join known_tasks
        on alerts.rule in ('overdue_periodic_task', 'stuck_tasks')
        and alerts.cluster = known_tasks.cluster
        and alerts.subject = known_tasks.task_name

)

select * from final
