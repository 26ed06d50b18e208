{#-
    Class and message parsed from Flower's `exception` text (the Python repr of the exception), one row per
    row of `tasks` (a relation or CTE name with task_id and exception) that has one:
      ValueError('x')                              -> ValueError, x
      ValueError("invalid currency 'XXX' ...")     -> ValueError, invalid currency 'XXX' ...
      UpstreamTimeout('lock "a.b" held (pid 42)')  -> UpstreamTimeout, lock "a.b" held (pid 42)
      celery.exceptions.TimeLimitExceeded(60.0,)   -> TimeLimitExceeded (class path kept apart), 60.0
      KeyError: 'x' (str form)                     -> KeyError, 'x'
      SoftTimeLimitExceeded (bare name)            -> SoftTimeLimitExceeded, null
    Anything else keeps a null type and the whole text as message. A macro rather than a model so that
    fct_task_runs parses only the tasks it rebuilds (unit test: fct_task_runs.yml).
-#}
{% macro select_parsed_exceptions(tasks) -%}
{%- set name = "[A-Za-z_][A-Za-z0-9_.]*" -%}
    with

    with_exception as (

        select task_id, trim(exception) as text from {{ tasks }}
        where nullif(trim(exception), '') is not null

    ),

    split as (

        select
            task_id,
            text,
            {{ regexp_group('text', "'(?s)^(" ~ name ~ ")\\((.*)\\)$'", 1) }} as repr_class_path,
            {{ regexp_group('text', "'(?s)^(" ~ name ~ ")\\((.*)\\)$'", 2) }} as repr_args,
            {{ regexp_group('text', "'(?s)^(" ~ name ~ "): (.*)$'", 1) }} as str_class_path,
            {{ regexp_group('text', "'(?s)^(" ~ name ~ "): (.*)$'", 2) }} as str_message,
            text ~ '^{{ name }}$' as is_bare_name

        from with_exception

    ),

    chosen as (

        select
            task_id,
            case
                when repr_class_path <> '' then repr_class_path
                when str_class_path <> '' then str_class_path
                when is_bare_name then text
            end as exception_class_path,
            case
                when repr_class_path <> '' then trim(repr_args)
                when str_class_path <> '' then trim(str_message)
                when is_bare_name then null
                else text
            end as raw_message

        from split

    ),

    unquoted as (

        select
            task_id,
            exception_class_path,
            raw_message,
            -- a single Python string literal: the repr of a one-argument exception
            {{ regexp_group('raw_message', "'(?s)^''((?:[^''\\\\]|\\\\.)*)''$'", 1) }} as single_quoted,
            {{ regexp_group('raw_message', "'(?s)^\"((?:[^\"\\\\]|\\\\.)*)\"$'", 1) }} as double_quoted,
            raw_message ~ '(?s)^(?:''(?:[^''\\]|\\.)*''|"(?:[^"\\]|\\.)*")$' as is_string_literal

        from chosen

    )

    select
        task_id,
        exception_class_path,
        {{ regexp_group('exception_class_path', "'([^.]+)$'", 1) }} as exception_type,
        case
            when is_string_literal
                then {{ unescape_python_string("single_quoted || double_quoted") }}
            -- other reprs (numbers, several arguments): as given, without the 1-tuple trailing comma
            else nullif(regexp_replace(raw_message, ',\s*$', ''), '')
        end as exception_message

    from unquoted
{%- endmacro %}
