{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=false,
    )
}}
{#-
    When each failure alert opened and resolved: a row per change of task_failure_alerts between two builds,
    with the figures at that moment. An alert is a cluster's task's: (cluster, task_name) is its identity. Appended to, never rebuilt (full_refresh=false: its rows cannot be
    derived again from the data). An alert opens when a task alerts and its last event is not an open one;
    it resolves when that task no longer alerts (with the figures of the build that saw it go: none when the
    task ran no more in the window).
-#}
{%- set figures = [
    'window_start_at', 'window_runs', 'window_failures', 'window_failure_rate', 'baseline_start_at', 'baseline_runs',
    'baseline_failures', 'baseline_failure_rate', 'top_exception_type', 'top_exception_message',
    'is_new_exception_type', 'has_known_tables', 'tables_at_risk',
] -%}
{{ alert_history(
    ref('task_failure_alerts'), ['cluster', 'task_name'], figures, judged_at='window_end_at',
    alert_id="alerts.cluster || '/' || alerts.task_name || '@'
        || cast(cast(extract(epoch from alerts.window_end_at) as bigint) as varchar)",
) }}
