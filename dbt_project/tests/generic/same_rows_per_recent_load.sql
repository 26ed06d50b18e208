{#-
    Fails when the model and `upstream` (one row each per the same thing) differ in their number of rows,
    or, for a load of the last `days` days, in the number of rows they hold from it. A load an incremental
    build skipped - new rows missing, or changed rows left at their old load - shows here.
-#}
{% test same_rows_per_recent_load(model, upstream, load_id_column='dlt_load_id', days=1) %}

with

upstream_loads as (

    select {{ load_id_column }} as load_id, count(*) as upstream_rows
    from {{ upstream }}
    where {{ load_id_column }} >= {{ recent_load_id_bound(upstream, load_id_column, days) }}
    group by 1

),

model_loads as (

    select {{ load_id_column }} as load_id, count(*) as model_rows
    from {{ model }}
    where {{ load_id_column }} >= {{ recent_load_id_bound(upstream, load_id_column, days) }}
    group by 1

),

per_load as (

    select
        coalesce(upstream_loads.load_id, model_loads.load_id) as load_id,
        coalesce(upstream_rows, 0) as upstream_rows,
        coalesce(model_rows, 0) as model_rows
    from upstream_loads
    full outer join model_loads
        on upstream_loads.load_id = model_loads.load_id

),

overall as (

    select
        'all loads' as load_id,
        (select count(*) from {{ upstream }}) as upstream_rows,
        (select count(*) from {{ model }}) as model_rows

)

select * from per_load where upstream_rows <> model_rows
union all
select * from overall where upstream_rows <> model_rows

{% endtest %}
