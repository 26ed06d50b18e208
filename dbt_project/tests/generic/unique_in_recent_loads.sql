{#-
    Fails for every combination of the given columns that occurs more than once among the rows loaded in the
    last `days` days (by `load_id_column`). Grouping only those keeps the test cheap on a large incremental
    table: older rows were checked when they were recent. A merge that left an older row beside a new
    version does not show here (the older row keeps its older load id): same_rows_per_recent_load finds it.
-#}
{% test unique_in_recent_loads(model, combination_of_columns, load_id_column, days=1) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
where {{ load_id_column }} >= {{ recent_load_id_bound(model, load_id_column, days) }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
