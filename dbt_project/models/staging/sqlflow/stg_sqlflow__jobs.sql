with

source as (

    {{ select_source_columns(source('sqlflow', 'jobs'), [
        ['job_id', 'varchar'],
        ['job_name', 'varchar'],
        ['status', 'varchar'],
        ['db_vendor', 'varchar'],
        ['create_time', 'timestamp'],
        ['last_execute_time', 'timestamp'],
        ['changed_at', 'timestamp'],
        ['error_message', 'varchar'],
        ['execute_time', 'varchar'],
        ['show_relation_type', 'varchar'],
        ['ignore_record_set', 'boolean'],
    ]) }}

),

renamed as (

    select
        ----------  ids
        job_id,

        ---------- text
        job_name,
        lower(status) as status,
        db_vendor,
        error_message,
        execute_time,
        show_relation_type,

        ---------- booleans
        ignore_record_set,

        ---------- timestamps (server-local, as SQLFlow gives them)
        create_time as created_at,
        last_execute_time as last_executed_at,
        coalesce(changed_at, last_execute_time, create_time) as changed_at

    from source

)

select * from renamed
