{#-
    dlt stamps every row it writes with its load's id (`_dlt_load_id`, an epoch-seconds string that grows
    with each load; the pipeline loads its packages in that order), and a merge rewrites a changed task's
    row with the new id. So "changed since the last build" is "load id above the newest one the built
    table holds". The watermark is read when the model runs and written into its SQL as a constant, so the
    scans prune on it (a subquery would not).
-#}

{#- The newest load id in `column` of `relation`, as a SQL string literal; '' when it has no rows. -#}
{% macro max_load_id(relation, column) %}
    {%- if not execute -%}
        {{ return("''") }}
    {%- endif -%}
    {%- set newest = run_query('select max(' ~ column ~ ') from ' ~ relation).columns[0].values()[0] -%}
    {{ return("'" ~ (newest or '') | replace("'", "''") ~ "'") }}
{% endmacro %}


{#-
    Model `model_name`'s table as it stands before this build, or none when it is not built. Not a ref: a
    model built BEFORE that one reads it (int_task_run_changes reads fct_task_runs), and a ref would be a
    cycle.
-#}
{% macro built_relation(model_name) %}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ model_name] -%}
    {{ return(adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)) }}
{% endmacro %}
