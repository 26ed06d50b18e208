{#-
    Each cluster's "now": its latest capture (the newest worker or queue snapshot, taken by taskline's clock,
    not a worker's). The operations alerts measure every age against it, so a cluster whose capture stopped
    does not age (taskline's freshness check says that) and a worker's clock never counts.
-#}
{%- set latest_capture -%}
    greatest(
        coalesce(max(workers_snapshot_at), max(queues_snapshot_at)),
        coalesce(max(queues_snapshot_at), max(workers_snapshot_at))
    )
{%- endset %}

with

captures as (

    select cluster, max(snapshot_at) as workers_snapshot_at, cast(null as timestamp with time zone) as queues_snapshot_at
    from {{ ref('stg_flower__worker_snapshots') }}
    group by 1

    union all

    select
        cluster,
        null as workers_snapshot_at,
        max(snapshot_at) as queues_snapshot_at
    from {{ ref('stg_flower__queue_length_snapshots') }}
    group by 1

),

final as (

    select
        cluster,
        max(workers_snapshot_at) as workers_snapshot_at,
        max(queues_snapshot_at) as queues_snapshot_at,
        {{ latest_capture }} as observed_at,
        {{ latest_capture }} - interval '1 day' * {{ var('operations_lookback_days') }} as lookback_start_at

    from captures
    group by 1

)

select * from final
