{#-
    (worker, snapshot_at, attempts_loaded): the task attempts of `attempts` (worker, attempt_at, attempts)
    that began inside an interval of `intervals` (worker, snapshot_at, counted_from_at, counted_until_at;
    a worker's intervals do not overlap), each given to its worker's first interval ending at or after it.
-#}
{% macro attempts_per_interval(attempts, intervals) -%}
    {{ return(adapter.dispatch('attempts_per_interval')(attempts, intervals)) }}
{%- endmacro %}

{% macro duckdb__attempts_per_interval(attempts, intervals) -%}
    select
        intervals.worker,
        intervals.snapshot_at,
        sum(attempts.attempts) as attempts_loaded

    from {{ attempts }} as attempts
    asof join {{ intervals }} as intervals
        on attempts.worker = intervals.worker
        and attempts.attempt_at <= intervals.counted_until_at
    where attempts.attempt_at > intervals.counted_from_at
    group by 1, 2
{%- endmacro %}

{#-
    No ASOF join in PostgreSQL: attempts and interval ends in one time line per worker, where an end sorts
    after an attempt at the same time; the interval an attempt falls to is the one numbered one more than
    the ends before it. Sorts once instead of comparing every attempt with every interval.
-#}
{% macro postgres__attempts_per_interval(attempts, intervals) -%}
    with

    interval_ends as (

        select
            worker,
            snapshot_at,
            counted_from_at,
            row_number() over (partition by worker order by counted_until_at, snapshot_at) as end_number

        from {{ intervals }}

    ),

    timeline as (

        select worker, attempt_at as happened_at, 0 as is_end, attempts
        from {{ attempts }}

        union all

        select worker, counted_until_at, 1, 0
        from {{ intervals }}

    ),

    numbered as (

        select
            *,
            1 + sum(is_end) over (
                partition by worker order by happened_at, is_end rows unbounded preceding
            ) as end_number

        from timeline

    ),

    placed as (

        select worker, happened_at as attempt_at, attempts, end_number
        from numbered
        where is_end = 0

    )

    select
        interval_ends.worker,
        interval_ends.snapshot_at,
        sum(placed.attempts) as attempts_loaded

    from placed
    inner join interval_ends
        on placed.worker = interval_ends.worker
        and placed.end_number = interval_ends.end_number
    where placed.attempt_at > interval_ends.counted_from_at
    group by 1, 2
{%- endmacro %}
