-- One row per UTC hour, cluster and broker queue that had at least one length snapshot in that hour.
with

snapshots as (

    select * from {{ ref('stg_flower__queue_length_snapshots') }}

),

hourly as (

    select
        date_trunc('hour', timezone('UTC', snapshot_at)) as hour,
        cluster,
        queue_name,
        count(*) as snapshots,
        avg(messages) as avg_messages,
        max(messages) as max_messages,
        min(messages) as min_messages,
        {{ value_at_max('messages', ['snapshot_at']) }} as last_messages,
        max(snapshot_at) as last_snapshot_at

    from snapshots
    group by 1, 2, 3

)

select * from hourly
