{#-
    Fails for every combination of the given columns, among rows loaded in the last `days` days (by
    `load_id_column`), that occurs more than once in the whole model. An incremental merge that left an
    old row beside its new version shows here, without grouping all of history on every build.
-#}
{% test unique_in_recent_loads(model, combination_of_columns, load_id_column, days=1) %}

with

recent_keys as (

    select distinct {{ combination_of_columns | join(', ') }}
    from {{ model }}
    where {{ load_id_column }} >= {{ recent_load_id_bound(model, load_id_column, days) }}

)

select
    {%- for column in combination_of_columns %}
    tested.{{ column }},
    {%- endfor %}
    count(*) as occurrences
from {{ model }} as tested
inner join recent_keys
    on {% for column in combination_of_columns -%}
    tested.{{ column }} = recent_keys.{{ column }}{{ ' and ' if not loop.last }}
    {%- endfor %}
group by all
having count(*) > 1

{% endtest %}
