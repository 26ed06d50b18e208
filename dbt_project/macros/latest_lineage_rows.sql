{#-
    Rows of one lineage part table (`<export_table>_<part>`) that belong to the latest export of their origin
    (job or SQL file), unless that origin is retired. dlt writes an export's header row and its part rows in
    one load, and a re-export replaces the header (merge on the origin) and its part rows (delete-insert). A
    re-export with no rows for a part would leave the old ones behind: keeping only rows whose load is the
    header's load drops them. A SQL file that no longer matches SQL_PATHS keeps its rows as history, flagged
    by `retired_at` on its header: those are left out (job headers have no `retired_at`).

    columns: list of [column_name, data_type] pairs, without the origin column.
-#}
{% macro select_latest_export_rows(export_table, part, origin_column, columns) -%}
    {%- set keys = [[origin_column, 'varchar'], ['_dlt_load_id', 'varchar']] -%}
    select part_rows.{{ origin_column }}
    {%- for column_name, _ in columns %}, part_rows.{{ column_name }}{% endfor %}
    from (
        {{ select_source_columns(source('sqlflow', export_table ~ '_' ~ part), keys + columns) }}
    ) as part_rows
    where exists (
        select 1
        from ({{ select_source_columns(source('sqlflow', export_table), keys + [['retired_at', 'timestamptz']]) }}) as exports
        where exports.retired_at is null
            and exports.{{ origin_column }} = part_rows.{{ origin_column }}
            and exports._dlt_load_id = part_rows._dlt_load_id
    )
{%- endmacro %}


{#-
    One lineage part (objects, columns or relationships) from jobs and from SQL files, latest exports of
    origins not retired only, with `origin_kind` ('job' / 'sql_file') and `origin` (the job id / the file
    key) in front.
-#}
{% macro latest_lineage_rows(part, columns) -%}
    {%- set column_list = columns | map(attribute=0) | join(', ') -%}
    select 'job' as origin_kind, job_id as origin, {{ column_list }}
    from ({{ select_latest_export_rows('job_lineage', part, 'job_id', columns) }}) as job_rows
    union all
    select 'sql_file' as origin_kind, sql_file as origin, {{ column_list }}
    from ({{ select_latest_export_rows('query_lineage', part, 'sql_file', columns) }}) as sql_file_rows
{%- endmacro %}
