{#- The states Celery itself defines (celery.states.ALL_STATES); any other is a custom one, e.g. PROGRESS. -#}
{% macro celery_states() -%}
    {{ return(['PENDING', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'RETRY', 'REVOKED', 'REJECTED', 'IGNORED']) }}
{%- endmacro %}


{#- The task_name of tasks Flower knows no name of (revoked before any worker received them). -#}
{% macro unnamed_task_name() -%}
    {{ return('(unnamed)') }}
{%- endmacro %}
