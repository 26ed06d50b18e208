{#-
    Class and message of each failure, one row per row of `tasks` (a relation or CTE name with cluster, task_id,
    exception and traceback) that has either. Parsed from Flower's `exception` text (the Python repr of the
    exception):
      ValueError('x')                              -> ValueError, x
      ValueError("invalid currency 'XXX' ...")     -> ValueError, invalid currency 'XXX' ...
      UpstreamTimeout('lock "a.b" held (pid 42)')  -> UpstreamTimeout, lock "a.b" held (pid 42)
      celery.exceptions.TimeLimitExceeded(60.0,)   -> TimeLimitExceeded (class path kept apart), 60.0
      KeyError: 'x' (str form)                     -> KeyError, 'x'
      SoftTimeLimitExceeded (bare name)            -> SoftTimeLimitExceeded, null
    except where that text names no real class, when the traceback's last exception line does:
      ExceptionWithTraceback()  (celery/celery#7781: hard time limits, lost workers)
          -> billiard.exceptions.TimeLimitExceeded: TimeLimitExceeded(1,)        -> TimeLimitExceeded, 1
          -> billiard.exceptions.WorkerLostError: Worker exited prematurely: signal 9 (SIGKILL) Job: 2.
                                                   -> WorkerLostError, Worker exited prematurely: signal 9 (SIGKILL)
      reject requeue=False: bad  -> celery.exceptions.Reject: ('bad', False)    -> Reject, bad
      None (a retry without an exception), or no text at all -> the traceback's class, else none
    Anything else keeps a null type and the whole text as message. A macro rather than a model so that
    fct_task_runs parses only the tasks it rebuilds (unit tests: fct_task_runs.yml).
-#}
{% macro select_parsed_exceptions(tasks) -%}
{%- set name = "[A-Za-z_][A-Za-z0-9_.]*" -%}
{%- set reject_text = "'(?s)^reject requeue=[A-Za-z]+: (.*)$'" -%}
{#- the last line of the traceback that starts with a class name, alone or followed by ': message' -#}
{%- set last_exception_line = "'(?s)^(?:.*\\n)?(" ~ name ~ ")(?:: ([^\\n]*))?[ \\t\\r]*(?:\\n[ \\t\\r\\n]*)?$'" -%}
    with

    with_exception as (

        select
            cluster,
            task_id,
            -- 'None' is what Celery writes for a retry without an exception: no class
            case when trim(exception) <> 'None' then trim(exception) end as text,
            traceback
        from {{ tasks }}
        where nullif(trim(exception), '') is not null
            or nullif(trim(traceback), '') is not null

    ),

    split as (

        select
            cluster,
            task_id,
            text,
            {{ regexp_group('text', "'(?s)^(" ~ name ~ ")\\((.*)\\)$'", 1) }} as repr_class_path,
            {{ regexp_group('text', "'(?s)^(" ~ name ~ ")\\((.*)\\)$'", 2) }} as repr_args,
            {{ regexp_group('text', "'(?s)^(" ~ name ~ "): (.*)$'", 1) }} as str_class_path,
            {{ regexp_group('text', "'(?s)^(" ~ name ~ "): (.*)$'", 2) }} as str_message,
            text ~ '^{{ name }}$' as is_bare_name,
            {{ regexp_group('text', reject_text, 1) }} as reject_reason,
            {{ regexp_group('traceback', last_exception_line, 1) }} as traceback_class_path,
            {{ regexp_group('traceback', last_exception_line, 2) }} as traceback_message

        from with_exception

    ),

    from_text as (

        select
            *,
            case
                when repr_class_path <> '' then repr_class_path
                when str_class_path <> '' then str_class_path
                when is_bare_name then text
            end as text_class_path,
            case
                when repr_class_path <> '' then trim(repr_args)
                when str_class_path <> '' then trim(str_message)
                when is_bare_name then null
                else text
            end as text_message

        from split

    ),

    chosen as (

        select
            cluster,
            task_id,
            -- Celery's wrapper of an exception it could not pickle, a reject text, 'None' or nothing:
            -- the traceback names the real class
            coalesce(text_class_path, '') in ('', 'ExceptionWithTraceback')
            and coalesce(traceback_class_path, '') <> '' as is_from_traceback,
            text_class_path,
            text_message,
            reject_reason,
            traceback_class_path,
            trim(traceback_message) as traceback_message

        from from_text

    ),

    classified as (

        select
            cluster,
            task_id,
            case when is_from_traceback then traceback_class_path else text_class_path end
                as exception_class_path,
            case
                when is_from_traceback and reject_reason <> '' then trim(reject_reason)
                -- billiard's str() of its time limits is their repr: TimeLimitExceeded(1,) -> 1
                when is_from_traceback and traceback_message ~ '(?s)^{{ name }}\(.*\)$'
                    then {{ regexp_group('traceback_message', "'(?s)^" ~ name ~ "\\((.*)\\)$'", 1) }}
                -- the pool's job number differs on every loss: left out, so one cause reads as one
                when is_from_traceback then regexp_replace(traceback_message, ' Job: [0-9]+\.$', '')
                else text_message
            end as raw_message,
            case when is_from_traceback then 'traceback' when text_class_path is not null then 'exception' end
                as exception_parsed_from

        from chosen

    ),

    unquoted as (

        select
            cluster,
            task_id,
            exception_class_path,
            exception_parsed_from,
            raw_message,
            -- a single Python string literal: the repr of a one-argument exception
            {{ regexp_group('raw_message', "'(?s)^''((?:[^''\\\\]|\\\\.)*)''$'", 1) }} as single_quoted,
            {{ regexp_group('raw_message', "'(?s)^\"((?:[^\"\\\\]|\\\\.)*)\"$'", 1) }} as double_quoted,
            raw_message ~ '(?s)^(?:''(?:[^''\\]|\\.)*''|"(?:[^"\\]|\\.)*")$' as is_string_literal

        from classified

    )

    select
        cluster,
        task_id,
        exception_class_path,
        {{ regexp_group('exception_class_path', "'([^.]+)$'", 1) }} as exception_type,
        case
            when is_string_literal
                then {{ unescape_python_string("single_quoted || double_quoted") }}
            -- other reprs (numbers, several arguments): as given, without the 1-tuple trailing comma
            else nullif(regexp_replace(raw_message, ',\s*$', ''), '')
        end as exception_message,
        exception_parsed_from

    from unquoted
{%- endmacro %}
