{#-
    (cluster, worker, snapshot_at, attempts_loaded): the task attempts of `attempts` (cluster, worker,
    attempt_at, attempts) that began inside an interval of `intervals` (cluster, worker, snapshot_at,
    counted_from_at, counted_until_at; a worker's intervals do not overlap), each given to its worker's first
    interval ending at or after it. A worker is its name within its cluster.
-#}
{% macro attempts_per_interval(attempts, intervals) -%}
    {{ return(adapter.dispatch('attempts_per_interval')(attempts, intervals)) }}
{%- endmacro %}

{% macro duckdb__attempts_per_interval(attempts, intervals) -%}
    select
        intervals.cluster,
        intervals.worker,
        intervals.snapshot_at,
        sum(attempts.attempts) as attempts_loaded

    from {{ attempts }} as attempts
    asof join {{ intervals }} as intervals
        on attempts.cluster = intervals.cluster
        and attempts.worker = intervals.worker
        and attempts.attempt_at <= intervals.counted_until_at
    where attempts.attempt_at > intervals.counted_from_at
    group by 1, 2, 3
{%- endmacro %}

{#-
    No ASOF join in PostgreSQL: attempts and interval ends in one time line per worker, where an end sorts
    after an attempt at the same time; an end and the attempts since the end before it share a number (the
    ends before them), so each attempt finds its interval by window functions, without a join (joining on
    that number, PostgreSQL misestimated the rows and compared every attempt with every interval, most of
    a large incremental build).
-#}
{% macro postgres__attempts_per_interval(attempts, intervals) -%}
    with

    timeline as (

        select
            cluster,
            worker,
            attempt_at as happened_at,
            0 as is_end,
            attempts,
            cast(null as timestamp with time zone) as snapshot_at,
            cast(null as timestamp with time zone) as counted_from_at

        from {{ attempts }}

        union all

        select cluster, worker, counted_until_at, 1, 0, snapshot_at, counted_from_at
        from {{ intervals }}

    ),

    numbered as (

        select
            *,
            sum(is_end) over (
                partition by cluster, worker order by happened_at, is_end, snapshot_at rows unbounded preceding
            ) - is_end as ends_before

        from timeline

    ),

    placed as (

        select
            cluster,
            worker,
            is_end,
            happened_at as attempt_at,
            attempts,
            -- the end closing the attempt's group is its interval (none after the worker's last end)
            max(snapshot_at) over same_interval as snapshot_at,
            max(counted_from_at) over same_interval as counted_from_at

        from numbered
        window same_interval as (partition by cluster, worker, ends_before)

    )

    select
        cluster,
        worker,
        snapshot_at,
        sum(attempts) as attempts_loaded

    from placed
    where is_end = 0 and attempt_at > counted_from_at
    group by 1, 2, 3
{%- endmacro %}
