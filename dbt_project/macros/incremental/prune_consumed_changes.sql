{#-
    Pre-hook of int_task_run_changes: deletes the entries every incremental model reading the log has used.
    A model reads the entries newer than the newest load id it holds (its latest_dlt_load_id; '' when it is
    empty), and what it had read stays applied, so older entries are never needed again. Readers are the
    incremental models that ref the log, but for the model it logs (its meta `change_log_of`, which refs it
    only to check it is complete); one not built yet is left out (its first build is a full one), and with
    none built nothing goes.
-#}
{% macro prune_consumed_changes() %}
    {%- if not execute or not is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set used_up_to = [] -%}
    {%- for node in graph.nodes.values()
        if model.unique_id in node.depends_on.nodes and node.config.materialized == 'incremental'
            and node.name != model.config.meta.change_log_of -%}
        {%- set reader = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if reader is not none -%}
            {%- do used_up_to.append("(select coalesce(max(latest_dlt_load_id), '') from " ~ reader ~ ")") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if used_up_to | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    delete from {{ this }} where changed_in_load_id <= least({{ used_up_to | join(', ') }})
{% endmacro %}
