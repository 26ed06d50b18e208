-- One row per Celery worker ever seen (its name within its cluster), described by its latest snapshot.
with

snapshots as (

    select * from {{ ref('stg_flower__worker_snapshots') }}

),

summary as (

    select
        cluster,
        worker,
        min(snapshot_at) as first_seen_at,
        max(snapshot_at) as last_seen_at,
        max(snapshot_at) filter (where is_online) as last_online_at,
        max(heartbeat_at) as last_heartbeat_at,
        count(*) as snapshots,
        cast(count(*) filter (where is_online) as double precision) / count(*) as online_ratio,
        {%- for column in ['is_online', 'pool_implementation', 'pool_max_concurrency', 'queues', 'processed_total',
                           'broker_transport'] %}
        {{ value_at_max(column, ['snapshot_at']) }} as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}

    from snapshots
    group by 1, 2

)

select * from summary
