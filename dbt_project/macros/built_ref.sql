{#-
    ref(model_name) when that model's relation exists, else an empty relation with `columns` (pairs of
    [name, data_type]) named as the model (PostgreSQL before 16 wants every subquery named).
    task_failure_impact joins the Flower and the SQLFlow branches, and each load job builds only its own
    branch: before the other source's first load, its side reads as empty instead of failing.
    The ref is always taken, so dbt orders the models and draws the lineage as usual.
-#}
{% macro built_ref(model_name, columns) -%}
    {%- set relation = ref(model_name) -%}
    {%- if not execute or load_relation(relation) is not none -%}
        {{ relation }}
    {%- else -%}
        (
            select
            {%- for name, data_type in columns %}
                cast(null as {{ data_type }}) as {{ name }}{{ ',' if not loop.last }}
            {%- endfor %}
            where false
        ) as {{ model_name }}
    {%- endif -%}
{%- endmacro %}
