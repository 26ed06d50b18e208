{#-
    Cron schedules (Celery beat's crontab, standard cron) in the same SQL on DuckDB and PostgreSQL: 5 fields,
    minute hour day-of-month month day-of-week, separated by any whitespace, evaluated in UTC. A field is a
    comma list of `*`, `n`, `a-b`, `*/s`, `a-b/s` and `a/s` (a to the field's highest value, step s); minute
    0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7 (0 and 7 are Sunday). A range a-b with
    a > b wraps round as Celery's does (day-of-week 5-1: Friday to Monday). No names (mon, jan), no `?`, `L`.

    Which days: the month must match and, by cron's rule (day_rule 'cron', the default), when both
    day-of-month and day-of-week are restricted (neither field starts with `*`, as Vixie cron and cronie read
    it: `*/2` is not restricted) a day matches if either does, else both must. Celery beat's own crontab
    always needs both (its open issue celery/celery#4307): day_rule 'celery'.

    Each field of a schedule is expanded once into the values it allows (the field's candidate values joined
    with its elements), kept as the bits of one mask per field; days, hours and minutes are then tested
    against the masks, never by parsing text per candidate minute. Everything is worked out per row of
    `schedules` (lateral subqueries), so no join hangs on PostgreSQL estimating the rows of an intermediate
    result. An expression cron_is_valid refuses never fires: flag those with cron_is_valid, as the macros
    cannot tell them from a cron that does not fire. Names the macros add all start with `cron_`: the
    schedules' key columns must not.
-#}

{#- SQL boolean: `expression` (text) is a cron expression these macros read; false for null. -#}
{% macro cron_is_valid(expression) -%}
    coalesce(({{ expression }}) ~ '{{ cron_pattern() }}', false)
{%- endmacro %}

{#- The regular expression of the cron expressions the macros read, each number within its field's range. -#}
{% macro cron_pattern() -%}
    {%- set step = '(?:/0*[1-9][0-9]{0,8})?' -%}
    {%- set fields = [] -%}
    {%- for number in [
        '0*[1-5]?[0-9]',
        '0*(?:1?[0-9]|2[0-3])',
        '0*(?:[1-9]|[12][0-9]|3[01])',
        '0*(?:[1-9]|1[0-2])',
        '0*[0-7]',
    ] -%}
        {%- set element = '(?:\\*|' ~ number ~ '(?:-' ~ number ~ ')?)' ~ step -%}
        {%- do fields.append(element ~ '(?:,' ~ element ~ ')*') -%}
    {%- endfor -%}
    {{- '^' ~ cron_whitespace() ~ '*' ~ fields | join(cron_whitespace() ~ '+') ~ cron_whitespace() ~ '*$' -}}
{%- endmacro %}

{#- The characters that separate fields: ASCII whitespace, spelled out: `\s` is not the same class in both engines. -#}
{% macro cron_whitespace() -%}
    [ \t\n\r\f\v]
{%- endmacro %}

{#-
    A FROM clause both macros start from: every row of `schedules` as `cron_masked`, with its `key_columns`,
    `columns` (alias → SQL expression over the row), cron_text (the expression with single spaces; null when
    not valid), cron_dom_star / cron_dow_star (that day field starts with `*`), the values each field allows
    as bits (cron_minute_mask, cron_hour_mask, cron_dom_mask, cron_month_mask, cron_dow_mask: bit n set when
    value n is allowed, Sunday bit 0; 0 for an invalid expression) and `aggregates` (alias → an aggregate
    over the allowed values: cron_field 1-5, cron_value, and the row's `columns` as cron_schedules.<alias>).
-#}
{% macro cron_masked_schedules(schedules, cron_column, key_columns, columns, aggregates={}) -%}
    (
        select
            cron_schedules.*,
            split_part(cron_schedules.cron_text, ' ', 3) like '*%' as cron_dom_star,
            split_part(cron_schedules.cron_text, ' ', 5) like '*%' as cron_dow_star,
            cron_masks.*

        from (
            select
                {%- for key in key_columns %}
                {{ key }},
                {%- endfor %}
                {%- for alias, expression in columns.items() %}
                {{ expression }} as {{ alias }},
                {%- endfor %}
                case when {{ cron_is_valid(cron_column) }}
                    then trim(regexp_replace({{ cron_column }}, '{{ cron_whitespace() }}+', ' ', 'g')) end as cron_text

            from {{ schedules }} as cron_source
        ) as cron_schedules

        cross join lateral (

            select
                {%- for alias, aggregate in aggregates.items() %}
                {{ aggregate }} as {{ alias }},
                {%- endfor %}
                {%- for field in ['minute', 'hour', 'dom', 'month', 'dow'] %}
                coalesce(bit_or(case when cron_ranges.cron_field = {{ loop.index }}
                    then cast(1 as bigint) << cron_candidates.cron_value end), 0) as cron_{{ field }}_mask
                {{- ',' if not loop.last }}
                {%- endfor %}

            from (
                -- an element is the range range_from-range_to with a step; a range with range_to < range_from
                -- wraps round the field's cycle of values (day-of-week: 7 days, 7 is 0)
                select
                    cron_elements.cron_field,
                    cron_elements.step,
                    cron_elements.cycle,
                    case when cron_elements.value_range = '*' then cron_elements.lowest
                        else cast(split_part(cron_elements.value_range, '-', 1) as integer) end as range_from,
                    case
                        when cron_elements.value_range = '*' then cron_elements.highest
                        when cron_elements.value_range like '%-%'
                            then cast(split_part(cron_elements.value_range, '-', 2) as integer)
                        when cron_elements.step_text <> '' then cron_elements.highest
                        else cast(cron_elements.value_range as integer)
                    end as range_to

                from (
                    select
                        cron_fields.cron_field,
                        cron_fields.lowest,
                        cron_fields.highest,
                        cron_fields.cycle,
                        split_part(elements.element, '/', 1) as value_range,
                        split_part(elements.element, '/', 2) as step_text,
                        case when elements.element like '%/%'
                            then cast(split_part(elements.element, '/', 2) as integer) else 1 end as step

                    from (values (1, 0, 59, 60), (2, 0, 23, 24), (3, 1, 31, 31), (4, 1, 12, 12), (5, 0, 7, 7))
                        as cron_fields (cron_field, lowest, highest, cycle)
                    cross join lateral unnest(
                        string_to_array(split_part(cron_schedules.cron_text, ' ', cron_fields.cron_field), ',')
                    ) as elements (element)
                ) as cron_elements
                -- offset 0: PostgreSQL works each element out once, not again for every candidate value
                offset 0
            ) as cron_ranges

            -- a value is allowed when its place in a range, counted round the cycle, is within the range and a
            -- multiple of the step
            inner join (
                select cron_fields.cron_field, candidates.cron_value
                from (values (1, 0, 59), (2, 0, 23), (3, 1, 31), (4, 1, 12), (5, 0, 6))
                    as cron_fields (cron_field, lowest, highest)
                inner join generate_series(0, 59) as candidates (cron_value)
                    on candidates.cron_value between cron_fields.lowest and cron_fields.highest
            ) as cron_candidates
                on cron_ranges.cron_field = cron_candidates.cron_field
                and cron_candidates.cron_value - cron_ranges.range_from
                    + case when cron_candidates.cron_value < cron_ranges.range_from then cron_ranges.cycle else 0 end
                    <= cron_ranges.range_to - cron_ranges.range_from
                    + case when cron_ranges.range_to < cron_ranges.range_from then cron_ranges.cycle else 0 end
                and (
                    cron_candidates.cron_value - cron_ranges.range_from
                    + case when cron_candidates.cron_value < cron_ranges.range_from then cron_ranges.cycle else 0 end
                ) % cron_ranges.step = 0

        ) as cron_masks
    ) as cron_masked
{%- endmacro %}

{#- SQL boolean: `mask` (a bigint of bits) has bit `bit` (an integer expression) set. -#}
{% macro cron_bit(mask, bit) -%}
    ((({{ mask }}) >> cast({{ bit }} as integer)) & 1) = 1
{%- endmacro %}

{#- SQL boolean: a schedule of cron_masked fires on date `day`. -#}
{% macro cron_day_matches(day, day_rule) -%}
    {%- if day_rule not in ('cron', 'celery') -%}
        {{ exceptions.raise_compiler_error("day_rule is 'cron' or 'celery', not '" ~ day_rule ~ "'") }}
    {%- endif -%}
    {%- set dom_hit = cron_bit('cron_masked.cron_dom_mask', 'date_part(\'day\', ' ~ day ~ ')') -%}
    {%- set dow_hit = cron_bit('cron_masked.cron_dow_mask', 'date_part(\'dow\', ' ~ day ~ ')') -%}
    ({{ cron_bit('cron_masked.cron_month_mask', 'date_part(\'month\', ' ~ day ~ ')') }}
        and
        {%- if day_rule == 'celery' %} {{ dom_hit }} and {{ dow_hit }}
        {%- else %} case when cron_masked.cron_dom_star or cron_masked.cron_dow_star
            then {{ dom_hit }} and {{ dow_hit }} else {{ dom_hit }} or {{ dow_hit }} end
        {%- endif %})
{%- endmacro %}

{#-
    Every fire of every schedule in a time span: the `key_columns` of each row of `schedules` whose
    `cron_column` is a valid cron expression, and `fire_at` (timestamp with time zone, a whole UTC minute) for
    every minute from `from_expr` to `to_expr` (both included; SQL expressions over the row, or constants,
    of timestamps with time zone) at which it fires. A SELECT, usable as a CTE body. Per row it tests each
    day of the span against the day masks, then a firing day's 24 hours and a firing hour's 60 minutes.
-#}
{% macro cron_fires(schedules, cron_column, key_columns, from_expr, to_expr, day_rule='cron') -%}
    select
        {%- for key in key_columns %}
        cron_masked.{{ key }},
        {%- endfor %}
        cron_fire_times.fire_at at time zone 'UTC' as fire_at

    from {{ cron_masked_schedules(schedules, cron_column, key_columns, {
        'cron_from_at': 'cast(' ~ from_expr ~ ' as timestamp with time zone) at time zone \'UTC\'',
        'cron_to_at': 'cast(' ~ to_expr ~ ' as timestamp with time zone) at time zone \'UTC\'',
    }) }}
    cross join lateral (
        select cast(cron_masked.cron_from_at as date) + cast(day_offset as integer) as cron_day
        from generate_series(
            0, cast(cron_masked.cron_to_at as date) - cast(cron_masked.cron_from_at as date)
        ) as offsets (day_offset)
    ) as cron_days
    -- a firing day's hours, and a firing hour's minutes (offset 0: PostgreSQL keeps this per day, after the
    -- days are filtered, instead of testing every minute of the day against every day)
    cross join lateral (
        select cron_days.cron_day + (cron_hours.cron_hour * 60 + cron_minutes.cron_minute) * interval '1 minute'
            as fire_at
        from generate_series(0, 23) as cron_hours (cron_hour)
        inner join generate_series(0, 59) as cron_minutes (cron_minute)
            on {{ cron_bit('cron_masked.cron_minute_mask', 'cron_minutes.cron_minute') }}
        where {{ cron_bit('cron_masked.cron_hour_mask', 'cron_hours.cron_hour') }}
        offset 0
    ) as cron_fire_times

    where {{ cron_day_matches('cron_days.cron_day', day_rule) }}
        and cron_fire_times.fire_at between cron_masked.cron_from_at and cron_masked.cron_to_at
{%- endmacro %}

{#-
    The latest fire of every schedule at or before its time: for each row of `schedules`, its `key_columns`
    and `latest_fire_at` (timestamp with time zone, a whole UTC minute), the latest minute at or before
    `at_column` (a timestamp with time zone of the row: its "now") and at most `lookback_days` days before it
    (an integer, or an SQL expression of one over the row) at which `cron_column` fires; null when it does not
    fire then, or when it is not a valid cron expression (cron_is_valid). A SELECT, usable as a CTE body.
    Per row it tests the lookback's days (lookback_days + 1) against the day masks, whatever the cron: a
    day's latest fire is its last hour's last minute, today's the latest at or before now.
-#}
{% macro cron_latest_fire(schedules, cron_column, key_columns, at_column, lookback_days, day_rule='cron') -%}
    {%- set value = 'cron_candidates.cron_value' -%}
    {%- set now_minute = 'date_part(\'minute\', cron_schedules.cron_now)' -%}
    {%- set now_hour = 'date_part(\'hour\', cron_schedules.cron_now)' -%}
    select
        {%- for key in key_columns %}
        cron_masked.{{ key }},
        {%- endfor %}
        case when cron_latest.fire_at >= cron_masked.cron_now - cron_masked.cron_lookback_days * interval '1 day'
            then cron_latest.fire_at at time zone 'UTC' end as latest_fire_at

    from {{ cron_masked_schedules(schedules, cron_column, key_columns, {
        'cron_now': 'cast(' ~ at_column ~ ' as timestamp with time zone) at time zone \'UTC\'',
        'cron_lookback_days': 'cast(' ~ lookback_days ~ ' as integer)',
    }, {
        'cron_last_minute': 'max(case when cron_ranges.cron_field = 1 then ' ~ value ~ ' end)',
        'cron_last_hour': 'max(case when cron_ranges.cron_field = 2 then ' ~ value ~ ' end)',
        'cron_last_minute_so_far': 'max(case when cron_ranges.cron_field = 1 and ' ~ value ~ ' <= '
            ~ now_minute ~ ' then ' ~ value ~ ' end)',
        'cron_last_hour_before': 'max(case when cron_ranges.cron_field = 2 and ' ~ value ~ ' < '
            ~ now_hour ~ ' then ' ~ value ~ ' end)',
        'cron_fires_this_hour': 'max(case when cron_ranges.cron_field = 2 and ' ~ value ~ ' = '
            ~ now_hour ~ ' then 1 else 0 end)',
    }) }}
    cross join lateral (
        -- the latest fire on the lookback's days: a day's last hour's last minute; today's the latest
        -- minute of this hour at or before now, else an hour before's last minute, else none
        select max(
            cron_days.cron_day + case
                when cron_days.day_offset > 0 then cron_masked.cron_last_hour * 60 + cron_masked.cron_last_minute
                when cron_masked.cron_fires_this_hour = 1 and cron_masked.cron_last_minute_so_far is not null
                    then cast(date_part('hour', cron_masked.cron_now) as integer) * 60
                        + cron_masked.cron_last_minute_so_far
                else cron_masked.cron_last_hour_before * 60 + cron_masked.cron_last_minute
            end * interval '1 minute'
        ) as fire_at

        from (
            select day_offset, cast(cron_masked.cron_now as date) - cast(day_offset as integer) as cron_day
            -- a constant when it is one: PostgreSQL then knows the number of days
            from generate_series(0, {{ lookback_days if lookback_days is number else 'cron_masked.cron_lookback_days' }})
                as offsets (day_offset)
        ) as cron_days
        where {{ cron_day_matches('cron_days.cron_day', day_rule) }}
    ) as cron_latest
{%- endmacro %}
