{#-
    Fails for every combination of the given columns that occurs more than once (dbt_utils-style, no package).
    `optional_columns` join the combination where the model has them (a seed a user may write without one):
    read from the row (optional_field), null where it has none.
-#}
{% test unique_combination_of_columns(model, combination_of_columns, optional_columns=[]) %}

{%- set columns = combination_of_columns | list -%}
{%- for column in optional_columns -%}
    {%- do columns.append(optional_field('model_rows', column)) -%}
{%- endfor %}
select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ model }} as model_rows
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
