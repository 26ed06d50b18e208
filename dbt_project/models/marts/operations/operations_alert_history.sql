{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=false,
    )
}}
{#-
    When each operations alert opened and resolved: a row per change of operations_alerts between two builds,
    with the figures at that moment. An alert is a rule's, for one subject of one cluster: (rule, cluster,
    subject) is its identity. Appended to, never rebuilt (full_refresh=false: its rows cannot be derived
    again). It opens when its row alerts and its last event is not an open one; it resolves when its row no
    longer alerts or is gone (then with no figures: nothing of it is watched any more).
-#}
{%- set figures = [
    'since_at', 'due_at', 'schedule', 'schedule_source', 'interval_seconds', 'threshold_seconds', 'age_seconds',
    'task_count', 'lost_task_count', 'sample_task_ids', 'messages', 'messages_before', 'tables_at_risk',
    'has_known_tables',
] -%}
{{ alert_history(
    ref('operations_alerts'), ['rule', 'cluster', 'subject'], figures, judged_at='observed_at',
    alert_id="alerts.rule || ':' || alerts.cluster || '/' || alerts.subject || '@'
        || cast(cast(extract(epoch from alerts.observed_at) as bigint) as varchar)",
) }}
