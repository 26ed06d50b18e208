{#-
    Tasks stuck or lost, one row each, at each cluster's latest capture. A task is held by a worker when the
    worker's latest snapshot lists its id (executing: active; received and waiting for a slot: reserved):
    - stuck: held for longer than its limit - declared (`stuck_task_limits`, minutes per task name) or
      `stuck_runtime_factor` times the task's p99 runtime over the lookback, and at least
      `stuck_min_minutes`. Its age is read on the worker's own clock (its last heartbeat minus its start),
      so a worker's clock set hours off makes no task look old;
    - lost: unfinished, and in the active list of its worker's last online snapshot, while that worker is
      offline now or gone from the capture (killed, crashed).
    A task the warehouse holds as running that its online worker does not list (Flower restarted and missed
    its end) is neither. Reads tasks active in the last `operations_lookback_days` only.
-#}
{%- set limits = var('stuck_task_limits') -%}

with

clocks as (

    select * from {{ ref('int_cluster_clocks') }}

),

snapshots as (

    select snapshots.*
    from {{ ref('stg_flower__worker_snapshots') }} as snapshots
    inner join clocks
        on snapshots.cluster = clocks.cluster
    where snapshots.snapshot_at >= clocks.lookback_start_at

),

latest_snapshots as (

    select * from (
        select
            *,
            row_number() over (partition by cluster, worker order by snapshot_at desc) as recency_rank
        from snapshots
    ) as ranked
    where recency_rank = 1

),

last_online_snapshots as (

    select * from (
        select
            *,
            row_number() over (partition by cluster, worker order by snapshot_at desc) as recency_rank
        from snapshots
        where is_online
    ) as ranked
    where recency_rank = 1

),

unfinished as (

    select
        runs.cluster,
        runs.task_id,
        runs.task_name,
        runs.state,
        runs.worker,
        runs.received_at,
        runs.started_at,
        runs.eta_at

    from {{ ref('fct_task_runs') }} as runs
    inner join clocks
        on runs.cluster = clocks.cluster
    -- the stored day first: it prunes the history before any row is joined
    where runs.activity_day >= (select cast(timezone('UTC', min(lookback_start_at)) as date) - 1 from clocks)
        and not runs.is_finished
        and runs.worker is not null

),

held as (

    select
        unfinished.*,
        clocks.observed_at,
        latest.snapshot_at as worker_snapshot_at,
        coalesce(latest.is_online and latest.snapshot_at = clocks.workers_snapshot_at, false) as worker_is_online,
        {{ id_listed('latest.active_task_ids', 'unfinished.task_id') }} as is_active,
        {{ id_listed('latest.reserved_task_ids', 'unfinished.task_id') }} as is_reserved,
        {{ id_listed('last_online.active_task_ids', 'unfinished.task_id') }} as was_active_when_last_online,
        -- the worker's clock now: its last heartbeat (taskline's when it has none)
        coalesce(latest.heartbeat_at, latest.snapshot_at) as worker_now

    from unfinished
    inner join clocks
        on unfinished.cluster = clocks.cluster
    left join latest_snapshots as latest
        on unfinished.cluster = latest.cluster
        and unfinished.worker = latest.worker
    left join last_online_snapshots as last_online
        on unfinished.cluster = last_online.cluster
        and unfinished.worker = last_online.worker

),

classified as (

    select
        *,
        case
            when worker_is_online and is_active then 'running_too_long'
            when worker_is_online and is_reserved then 'waiting_too_long'
            when not worker_is_online and was_active_when_last_online then 'worker_lost'
        end as condition,
        case
            when worker_is_online and is_active then coalesce(started_at, received_at)
            -- a countdown's wait is no one's fault: counted from its ETA
            else greatest(received_at, eta_at)
        end as since_at

    from held

),

runtimes as (

    select
        runs.cluster,
        runs.task_name,
        percentile_cont(0.99) within group (order by runs.runtime_s) as p99_runtime_s

    from {{ ref('fct_task_runs') }} as runs
    inner join (
        select distinct cluster, task_name from classified
        where condition is not null
    ) as candidates
        on runs.cluster = candidates.cluster
        and runs.task_name = candidates.task_name
    inner join clocks
        on runs.cluster = clocks.cluster
    where runs.activity_day >= (select cast(timezone('UTC', min(lookback_start_at)) as date) - 1 from clocks)
        and runs.ran_to_end
        and runs.runtime_s is not null
    group by 1, 2

),

limited as (

    select
        classified.*,
        {{ seconds_between('classified.since_at', 'classified.worker_now') }} as age_seconds,
        {%- set derived -%}
            greatest(
                {{ var('stuck_min_minutes') | float * 60 }},
                {{ var('stuck_runtime_factor') }} * coalesce(runtimes.p99_runtime_s, 0)
            )
        {%- endset %}
        {%- if limits %}
        case classified.task_name
            {%- for task_name, minutes in limits.items() %}
            when '{{ task_name | replace("'", "''") }}' then {{ minutes | float * 60 }}
            {%- endfor %}
            else {{ derived }}
        end as limit_seconds
        {%- else %}
        {{ derived }} as limit_seconds
        {%- endif %}

    from classified
    left join runtimes
        on classified.cluster = runtimes.cluster
        and classified.task_name = runtimes.task_name
    where classified.condition is not null

),

final as (

    select
        cast(cluster as varchar) as cluster,
        cast(task_id as varchar) as task_id,
        cast(task_name as varchar) as task_name,
        cast(state as varchar) as state,
        cast(worker as varchar) as worker,
        cast(condition as varchar) as condition,
        since_at,
        age_seconds,
        limit_seconds,
        observed_at

    from limited
    where condition = 'worker_lost'
        or age_seconds > limit_seconds

)

select * from final
