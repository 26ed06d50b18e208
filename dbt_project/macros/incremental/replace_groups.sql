{#-
    Incremental strategy `replace_groups` for aggregate marts: the model's new rows are whole groups
    recomputed from scratch (one row per `unique_key` value the changes since the last build touched).
    Every row of those groups is deleted from the table, then the new rows are inserted — except those with
    a null `latest_dlt_load_id`: a touched group that no longer has any run (its runs all moved to other
    days or groups) comes as such an empty row, and so leaves the table.

    Keys compare null-safe (same_group): a null task name is a group too. dbt-duckdb's own delete+insert
    compares with `=`, which would keep the old null-keyed row beside the new one.
-#}
{% macro get_incremental_replace_groups_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set new_rows = arg_dict['temp_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}

    delete from {{ target }} as existing
    using (select distinct {{ keys | join(', ') }} from {{ new_rows }}) as touched
    where {{ same_group('existing', 'touched', keys) }};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ new_rows }}
    where latest_dlt_load_id is not null
{% endmacro %}
