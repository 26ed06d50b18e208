{#-
    Splits Flower's `exception` (Python repr of the exception raised) into class and message:
      ValueError('x')                              -> ValueError, x
      ValueError("invalid currency 'XXX' ...")     -> ValueError, invalid currency 'XXX' ...
      UpstreamTimeout('lock "a.b" held (pid 42)')  -> UpstreamTimeout, lock "a.b" held (pid 42)
      celery.exceptions.TimeLimitExceeded(60.0,)   -> TimeLimitExceeded (class path kept apart), 60.0
      KeyError: 'x' (str form)                     -> KeyError, 'x'
      SoftTimeLimitExceeded (bare name)            -> SoftTimeLimitExceeded, null
    Anything else keeps a null type and the whole text as message.
-#}
{%- set name = "[A-Za-z_][A-Za-z0-9_.]*" -%}

with

tasks as (

    select task_id, exception from {{ ref('stg_flower__tasks') }}
    where nullif(trim(exception), '') is not null

),

split as (

    select
        task_id,
        exception,
        trim(exception) as text,
        regexp_extract(trim(exception), '(?s)^({{ name }})\((.*)\)$', ['class_path', 'args']) as repr_form,
        regexp_extract(trim(exception), '(?s)^({{ name }}): (.*)$', ['class_path', 'message']) as str_form,
        regexp_full_match(trim(exception), '{{ name }}') as is_bare_name

    from tasks

),

chosen as (

    select
        task_id,
        exception,
        case
            when repr_form.class_path <> '' then repr_form.class_path
            when str_form.class_path <> '' then str_form.class_path
            when is_bare_name then text
        end as exception_class_path,
        case
            when repr_form.class_path <> '' then trim(repr_form.args)
            when str_form.class_path <> '' then trim(str_form.message)
            when is_bare_name then null
            else text
        end as raw_message

    from split

),

unquoted as (

    select
        task_id,
        exception,
        exception_class_path,
        raw_message,
        -- a single Python string literal: the repr of a one-argument exception
        regexp_extract(raw_message, '(?s)^''((?:[^''\\]|\\.)*)''$', 1) as single_quoted,
        regexp_extract(raw_message, '(?s)^"((?:[^"\\]|\\.)*)"$', 1) as double_quoted,
        regexp_full_match(raw_message, '(?s)''(?:[^''\\]|\\.)*''|"(?:[^"\\]|\\.)*"') as is_string_literal

    from chosen

),

final as (

    select
        task_id,
        exception,
        exception_class_path,
        regexp_extract(exception_class_path, '[^.]+$') as exception_type,
        case
            when is_string_literal
                then {{ unescape_python_string("single_quoted || double_quoted") }}
            -- other reprs (numbers, several arguments): as given, without the 1-tuple trailing comma
            else nullif(regexp_replace(raw_message, ',\s*$', ''), '')
        end as exception_message

    from unquoted

)

select * from final
