{#-
    Each broker queue at its cluster's latest capture: its backlog now and over its latest
    `queue_growth_snapshots` snapshots. A queue is growing when its backlog rose at every one of those
    snapshots (never fell) over at least `queue_growth_min_minutes` - a burst that the workers drain is not;
    backed up when it holds `queue_backlog_threshold` messages or more. A queue missing from the latest
    capture is left out. Reads the last `operations_lookback_days` of snapshots only.
-#}
{%- set snapshots_compared = var('queue_growth_snapshots') | int -%}

with

clocks as (

    select * from {{ ref('int_cluster_clocks') }}

),

recent as (

    select * from (
        select
            snapshots.cluster,
            snapshots.queue_name,
            snapshots.snapshot_at,
            snapshots.messages,
            lag(snapshots.messages) over (
                partition by snapshots.cluster, snapshots.queue_name order by snapshots.snapshot_at
            ) as previous_messages,
            row_number() over (
                partition by snapshots.cluster, snapshots.queue_name order by snapshots.snapshot_at desc
            ) as recency_rank
        from {{ ref('stg_flower__queue_length_snapshots') }} as snapshots
        inner join clocks
            on snapshots.cluster = clocks.cluster
        where snapshots.snapshot_at >= clocks.lookback_start_at
    ) as ranked
    where recency_rank <= {{ snapshots_compared }}

),

compared as (

    select
        cluster,
        queue_name,
        count(*) as snapshots,
        max(snapshot_at) as last_snapshot_at,
        min(snapshot_at) as first_snapshot_at,
        {{ value_at_max('messages', ['snapshot_at']) }} as messages,
        {{ value_at_max('messages', ['recency_rank']) }} as messages_at_first_snapshot,
        -- the steps between the compared snapshots (the oldest one's own step is outside them)
        count(*) filter (where recency_rank < {{ snapshots_compared }} and messages < previous_messages) as falling_steps

    from recent
    group by 1, 2

),

final as (

    select
        cast(compared.cluster as varchar) as cluster,
        cast(compared.queue_name as varchar) as queue_name,
        compared.messages,
        compared.messages_at_first_snapshot,
        compared.snapshots,
        compared.first_snapshot_at,
        compared.last_snapshot_at as observed_at,
        compared.snapshots = {{ snapshots_compared }}
            and compared.falling_steps = 0
            and compared.messages > compared.messages_at_first_snapshot
            and compared.last_snapshot_at - compared.first_snapshot_at
                >= interval '1 minute' * {{ var('queue_growth_min_minutes') }} as is_growing,
        compared.messages >= {{ var('queue_backlog_threshold') }} as is_backed_up

    from compared
    inner join clocks
        on compared.cluster = clocks.cluster
        and compared.last_snapshot_at = clocks.queues_snapshot_at

)

select * from final
