"""A long synthetic task history in the shape dlt loads flower.tasks, generated in DuckDB with range(): the
task names, exceptions and time span the benchmarks share (bench_dbt's warehouse, bench_flower_load's
history added to a real load)."""

TASK_NAMES = [
    "etl.extract_orders",
    "etl.extract_customers",
    "etl.load_payments",
    "etl.enrich_orders",
    "etl.build_daily_revenue",
    "etl.refresh_customer_ltv",
    "etl.publish_dashboard",
] + [f"etl.job_{n:02d}" for n in range(13)]
EXCEPTIONS = [
    "ConnectionError('orders API timed out after 30s')",
    "ValueError(\"invalid currency 'XXX' in payment 42\")",
    "KeyError('customer_id')",
    "UpstreamTimeout('warehouse lock \"analytics.customer_ltv\" held (pid 4242)')",
    "celery.exceptions.TimeLimitExceeded(60.0,)",
]
# 30 days of activity ending at this epoch second
END_EPOCH = 1795132800
DAY_S = 86400
# dlt's load ids are the load's epoch seconds as text; one load per 15 minutes
LOAD_EVERY_S = 900
LOAD_ID_FRACTION = ".104815"

# Tasks i in [0, n) with uuids made from `{prefix}<i>` (random-looking, as Celery's uuid4: their order says
# nothing), received evenly over `span` seconds from `start`, in the columns dlt gives flower.tasks; 90%
# succeed, 7% fail, 2% are still running, 1% revoked, one in 13 retried.
TASK_ROWS_SQL = """
with generated as (
    select
        i,
        (hash('{prefix}' || i) >> 1)::bigint as h,
        {start} + (i * {span} // {n}) as received_epoch
    from range({n}) as r(i)
)
select
    md5('{prefix}' || i)::uuid::varchar as uuid,
    (?)[1 + (h // 100) % {names}] as name,
    case when h % 100 < 90 then 'SUCCESS' when h % 100 < 97 then 'FAILURE' when h % 100 < 99 then 'STARTED'
         else 'REVOKED' end as state,
    to_timestamp(received_epoch) as received,
    cast(null as timestamptz) as sent,
    to_timestamp(received_epoch + (h % 7) / 10) as started,
    case when h % 100 < 90 then to_timestamp(received_epoch + 1 + h % 20) end as succeeded,
    case when h % 100 between 90 and 96 then to_timestamp(received_epoch + 2 + h % 40) end as failed,
    case when h % 13 = 0 then to_timestamp(received_epoch + 0.5) end as retried,
    case when h % 100 = 99 then to_timestamp(received_epoch + 3) end as revoked,
    cast(null as timestamptz) as rejected,
    to_timestamp(received_epoch + 2 + h % 40) as "timestamp",
    cast(null as timestamptz) as eta,
    cast(null as timestamptz) as expires,
    case when h % 100 < 90 then (h % 20 + 0.9)::double end as runtime,
    (case when h % 13 = 0 then 1 + h % 3 else 0 end)::bigint as retries,
    'w' || (h % 4) || '@node' || (h % 4) as worker,
    '(' || i || ',)' as args,
    '{{}}' as kwargs,
    case when h % 100 < 90 then '{{''rows'': ' || (h % 1000) || '}}' end as result,
    case when h % 100 between 90 and 96 or h % 13 = 0 then (?)[1 + (h // 7) % {exceptions}] end as exception,
    case when h % 100 between 90 and 96 then 'Traceback (most recent call last):\n  File "/app/tasks.py", line '
         || (h % 300) || ', in run\n    raise\n' end as traceback,
    cast(null as varchar) as exchange,
    'celery' as routing_key,
    i::bigint as clock,
    cast(null as varchar) as client,
    md5('{prefix}' || i)::uuid::varchar as root_id,
    cast(null as varchar) as parent_id,
    '[]'::json as children,
    {load_id} as _dlt_load_id,
    md5('{prefix}' || i) as _dlt_id
from generated
"""
# the history: each task loaded by the first 15-minute load after its last event
HISTORY_LOAD_ID = (
    f"((received_epoch + 2 + h % 40) // {LOAD_EVERY_S} + 1) * {LOAD_EVERY_S} || '{LOAD_ID_FRACTION}'"
)


def task_rows_sql(prefix: str, n: int, start: int, span: int, load_id: str) -> str:
    return TASK_ROWS_SQL.format(
        prefix=prefix,
        n=n,
        start=start,
        span=span,
        load_id=load_id,
        names=len(TASK_NAMES),
        exceptions=len(EXCEPTIONS),
    )
