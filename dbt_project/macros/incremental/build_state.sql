{#-
    Incremental models rebuild in full whenever what they hold could differ from a rebuild, never migrate
    half-way (dbt's on_schema_change would only add or drop columns and leave old rows as they were).

    After every build an incremental table carries, as its table comment, its build state (JSON), written by
    record_build_state, the post-hook dbt_project.yml gives every model:
      fingerprint: md5 of the logic behind it (logic_parts) and of the generation of every incremental
                   model upstream of it;
      generation:  the dbt invocation that last built it in full (kept by incremental builds).
    should_full_refresh() is dbt's own macro (the incremental materialization and is_incremental() call it),
    overridden: besides --full-refresh it answers true when the stored fingerprint is not the current one —
    the model's SQL, an upstream model's SQL or a project macro they call changed, or an incremental model
    upstream was rebuilt in full (its rows are new: the changes it logged for us are gone), or the table
    has no state (built before this mechanism, or by hand). A model configured full_refresh=false (an
    append-only history) is never rebuilt.
-#}

{% macro should_full_refresh() %}
    {%- set requested = dbt.should_full_refresh() -%}
    {%- set config = model.get('config', {}) -%}
    {#- full_refresh=false: a history that cannot be derived again, never rebuilt (dbt's own meaning) -#}
    {%- if requested or not execute or config.get('materialized') != 'incremental'
        or config.get('full_refresh') is false -%}
        {{ return(requested) }}
    {%- endif -%}
    {%- set stored = stored_build_state(this) -%}
    {{ return(stored is none or stored.get('fingerprint') != build_fingerprint(model)) }}
{% endmacro %}


{#-
    Post-hook of every model (dbt_project.yml), run inside its transaction: an incremental model stores the
    state described above; the others have none. The state lives in the table comment, so dbt must not write
    its own there (persist_docs.relation): that is refused rather than losing the state.
-#}
{% macro record_build_state() %}
    {%- if not execute or config.get('materialized') != 'incremental' -%}
        {{ return('') }}
    {%- endif -%}
    {%- if (config.get('persist_docs') or {}).get('relation') -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ ": persist_docs.relation would overwrite the build state taskline keeps in the table "
            ~ "comment of incremental models (macros/incremental/build_state.sql); set it for columns only.") }}
    {%- endif -%}
    {%- set stored = stored_build_state(this) -%}
    {%- set generation = stored.generation if stored and is_incremental() else invocation_id -%}
    {%- set state = {'fingerprint': build_fingerprint(model), 'generation': generation} -%}
    comment on table {{ this }} is '{{ tojson(state, sort_keys=true) }}'
{% endmacro %}


{% macro build_fingerprint(node) %}
    {%- set logic = {} -%}
    {%- do logic_parts(node.unique_id, logic) -%}
    {%- set generations = {} -%}
    {%- for unique_id, part in logic.items() if unique_id != node.unique_id and part is mapping -%}
        {%- if part.materialized == 'incremental' -%}
            {%- set upstream = graph.nodes[unique_id] -%}
            {%- set state = stored_build_state(api.Relation.create(
                database=upstream.database, schema=upstream.schema, identifier=upstream.alias)) -%}
            {%- do generations.update({unique_id: state.generation if state else none}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(local_md5(tojson({'logic': logic, 'generations': generations}, sort_keys=true))) }}
{% endmacro %}


{#-
    Adds to `parts` the logic of model `unique_id` and of every model upstream of it: the checksum of its
    SQL file, its materialization and the SQL of the project macros it calls (and those they call). Sources
    and seeds are named only: their data is what builds increment over.
-#}
{% macro logic_parts(unique_id, parts) %}
    {%- if unique_id in parts -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set node = graph.nodes.get(unique_id) -%}
    {%- if node is none or node.resource_type != 'model' -%}
        {%- do parts.update({unique_id: 'data'}) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set macros = {} -%}
    {%- for macro_id in node.depends_on.macros -%}
        {%- do macro_parts(macro_id, macros) -%}
    {%- endfor -%}
    {%- do parts.update({unique_id: {
        'sql': node.checksum.checksum, 'materialized': node.config.materialized, 'macros': macros}}) -%}
    {%- for parent_id in node.depends_on.nodes -%}
        {%- do logic_parts(parent_id, parts) -%}
    {%- endfor -%}
{% endmacro %}


{% macro macro_parts(macro_id, parts) %}
    {%- if macro_id in parts or not macro_id.startswith('macro.' ~ project_name ~ '.') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set macro = context[macro_id.split('.')[-1]].macro -%}
    {%- do parts.update({macro_id: local_md5(macro.macro_sql)}) -%}
    {%- for called_id in macro.depends_on.macros -%}
        {%- do macro_parts(called_id, parts) -%}
    {%- endfor -%}
{% endmacro %}


{#- The build state stored with `relation` (a dict), or none when it has none or does not exist. -#}
{% macro stored_build_state(relation) %}
    {%- set comment = table_comment(relation) -%}
    {%- if comment is none or not comment.startswith('{') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(fromjson(comment)) }}
{% endmacro %}

