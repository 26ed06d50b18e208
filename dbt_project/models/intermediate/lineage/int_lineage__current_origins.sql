-- Lineage origins that still describe the warehouse: every SQL file not retired (staging leaves retired files
-- out; a file's latest send replaced the earlier ones), and for each job name only its newest exported job
-- (a resubmitted job supersedes the older one).
with

objects as (

    select distinct origin_kind, origin from {{ ref('stg_sqlflow__lineage_objects') }}

),

jobs as (

    select * from {{ ref('stg_sqlflow__jobs') }}

),

named as (

    select
        objects.origin_kind,
        objects.origin,
        coalesce(jobs.job_name, objects.origin) as origin_name,
        jobs.changed_at

    from objects
    left join jobs
        on objects.origin_kind = 'job'
        and objects.origin = jobs.job_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by origin_kind, origin_name
            order by changed_at desc nulls last, origin desc
        ) as recency_rank

    from named

)

select origin_kind, origin, origin_name
from ranked
where recency_rank = 1
