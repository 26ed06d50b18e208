{#-
    Pre-hook of fct_task_runs: stops it from merging changed tasks whose rows as built int_task_run_changes
    has not logged (a build that selected fct_task_runs without it): the task marts would never hear of the
    groups those rows counted in, and stay wrong without a sound. A hook, so compiling (dbt docs) never
    stops here.
-#}
{% macro assert_changes_logged() %}
    {%- set tasks = ref('stg_flower__tasks') -%}
    {%- set changes = ref('int_task_run_changes') -%}
    {%- if not execute or not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set watermark = max_load_id(this, 'dlt_load_id') -%}
    {%- set query -%}
        select count(*), min(changed.cluster || '/' || changed.task_id)
        from {{ tasks }} as changed
        inner join {{ this }} as built
            on changed.cluster = built.cluster
            and changed.task_id = built.task_id
        left join {{ changes }} as logged
            on changed.cluster = logged.cluster
            and changed.task_id = logged.task_id
            and changed.dlt_load_id = logged.changed_in_load_id
        where changed.dlt_load_id > {{ watermark }}
            and logged.task_id is null
    {%- endset -%}
    {%- set unlogged, example = run_query(query).rows[0] -%}
    {%- if unlogged > 0 -%}
        {{ exceptions.raise_compiler_error(
            this ~ ": " ~ unlogged ~ " changed task(s) (e.g. " ~ example ~ ") are not in " ~ changes
            ~ " yet, so the task marts would keep counting their old rows. Build the change log with it: "
            ~ "dbt build --select int_task_run_changes+ (a plain dbt build does).") }}
    {%- endif -%}
{% endmacro %}
