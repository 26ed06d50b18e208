"""The cron macros (dbt_project/macros/portable/cron_latest_fire.sql) on DuckDB and on PostgreSQL: one
`dbt show` per engine runs every case at once, through the project's profile, and each case's answers are
exact: whether the expression is valid, its latest fire within 31 days (a constant lookback), within the
row's own lookback (an SQL expression: 7 days here), by Celery beat's day rule, and every fire in a span.

Most cases are at NOW, Wednesday 2024-03-13 10:07:30 UTC; times are printed in UTC to the minute.
"""

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.fixtures.dbt_cli import dbt

NOW = "2024-03-13 10:07:30"


class Case(NamedTuple):
    name: str
    cron: str | None
    fires_from: str
    fires_to: str
    latest: str | None  # the latest fire at or before `now`, within 31 days
    fires: list[str]  # every fire from fires_from to fires_to, both included
    now: str = NOW
    latest_in_week: str | None = "same"  # within the row's lookback_days (7); "same": as `latest`
    latest_celery: str | None = "same"  # day_rule 'celery': both day fields must match
    is_valid: bool = True


CASES = [
    Case("every 20 minutes", "*/20 * * * *", "2024-03-13 09:07:30", NOW, "2024-03-13 10:00",
         ["2024-03-13 09:20", "2024-03-13 09:40", "2024-03-13 10:00"]),
    Case("daily at 3", "0 3 * * *", "2024-03-11 00:00:00", NOW, "2024-03-13 03:00",
         ["2024-03-11 03:00", "2024-03-12 03:00", "2024-03-13 03:00"]),
    Case("daily at 3, now exactly then", "0 3 * * *", "2024-03-13 03:00:00", "2024-03-13 03:00:00",
         "2024-03-13 03:00", ["2024-03-13 03:00"], now="2024-03-13 03:00:00"),
    Case("daily at 3, now a second before", "0 3 * * *", "2024-03-13 02:59:59", "2024-03-13 03:00:59",
         "2024-03-12 03:00", ["2024-03-13 03:00"], now="2024-03-13 02:59:59"),
    Case("several spaces and a tab", " 0   3\t* *  * ", "2024-03-12 00:00:00", NOW, "2024-03-13 03:00",
         ["2024-03-12 03:00", "2024-03-13 03:00"]),
    Case("weekdays at 2:30, now Monday 1:00", "30 2 * * 1-5", "2024-03-08 00:00:00", "2024-03-15 00:00:00",
         "2024-03-08 02:30",
         ["2024-03-08 02:30", "2024-03-11 02:30", "2024-03-12 02:30", "2024-03-13 02:30", "2024-03-14 02:30"],
         now="2024-03-11 01:00:00"),
    Case("monthly on the 1st", "0 0 1 * *", "2024-01-15 00:00:00", NOW, "2024-03-01 00:00",
         ["2024-02-01 00:00", "2024-03-01 00:00"], latest_in_week=None),
    Case("Sunday as 0", "0 0 * * 0", "2024-03-01 00:00:00", "2024-03-20 00:00:00", "2024-03-10 00:00",
         ["2024-03-03 00:00", "2024-03-10 00:00", "2024-03-17 00:00"]),
    Case("Sunday as 7", "0 0 * * 7", "2024-03-01 00:00:00", "2024-03-20 00:00:00", "2024-03-10 00:00",
         ["2024-03-03 00:00", "2024-03-10 00:00", "2024-03-17 00:00"]),
    # both day fields restricted: the 13th or a Friday (Celery: a Friday the 13th, none since October)
    Case("the 13th or a Friday", "0 12 13 * 5", "2024-03-07 00:00:00", "2024-03-16 00:00:00",
         "2024-03-08 12:00", ["2024-03-08 12:00", "2024-03-13 12:00", "2024-03-15 12:00"], latest_celery=None),
    Case("5 and 35 past every 6 hours", "5,35 */6 * * *", "2024-03-13 00:00:00", "2024-03-13 23:59:59",
         "2024-03-13 06:35",
         ["2024-03-13 00:05", "2024-03-13 00:35", "2024-03-13 06:05", "2024-03-13 06:35",
          "2024-03-13 12:05", "2024-03-13 12:35", "2024-03-13 18:05", "2024-03-13 18:35"]),
    # a/s runs to the field's end (10, 35); 22-2/2 wraps round midnight (22, 0, 2)
    Case("a/s and a wrapping a-b/s", "10/25 22-2/2 * * *", "2024-03-12 21:00:00", "2024-03-13 03:00:00",
         "2024-03-13 02:35",
         ["2024-03-12 22:10", "2024-03-12 22:35", "2024-03-13 00:10", "2024-03-13 00:35",
          "2024-03-13 02:10", "2024-03-13 02:35"]),
    Case("Friday to Monday", "0 9 * * 5-1", "2024-03-13 00:00:00", "2024-03-19 00:00:00", "2024-03-11 09:00",
         ["2024-03-15 09:00", "2024-03-16 09:00", "2024-03-17 09:00", "2024-03-18 09:00"]),
    # a day field starting with * is not restricted (Vixie cron): odd days that are Mondays
    Case("odd days that are Mondays", "0 0 */2 * 1", "2024-03-01 00:00:00", "2024-03-31 00:00:00",
         "2024-03-11 00:00", ["2024-03-11 00:00", "2024-03-25 00:00"]),
    Case("minute 61", "61 * * * *", "2024-03-13 00:00:00", NOW, None, [], is_valid=False),
    Case("words", "every minute", "2024-03-13 00:00:00", NOW, None, [], is_valid=False),
    Case("three fields", "* * *", "2024-03-13 00:00:00", NOW, None, [], is_valid=False),
    Case("no expression", None, "2024-03-13 00:00:00", NOW, None, [], is_valid=False),
]  # fmt: skip


def literal(text: str | None) -> str:
    return "null" if text is None else "'" + text.replace("'", "''") + "'"


def timestamp(text: str) -> str:
    return f"cast('{text}+00' as timestamp with time zone)"


# every case at once; the answers as text, the same on both engines: times in UTC to the minute
QUERY = """
    {% set shown = "substr(cast(COLUMN at time zone 'UTC' as varchar), 1, 16)" %}
    {% set type_of = 'typeof' if target.type == 'duckdb' else 'pg_typeof' %}

    with

    schedules as (
        select case_name, cast(cron as varchar) as cron, now_at, lookback_days, fires_from, fires_to
        from (values SCHEDULES) as cases (case_name, cron, now_at, lookback_days, fires_from, fires_to)
    ),

    latest as ({{ cron_latest_fire('schedules', 'cron', ['case_name'], 'now_at', 31) }}),

    latest_in_week as ({{ cron_latest_fire('schedules', 'cron', ['case_name'], 'now_at', 'lookback_days') }}),

    latest_celery as ({{ cron_latest_fire('schedules', 'cron', ['case_name'], 'now_at', 31, day_rule='celery') }}),

    fires as ({{ cron_fires('schedules', 'cron', ['case_name'], 'fires_from', 'fires_to') }}),

    fire_lists as (
        select case_name, string_agg({{ shown | replace('COLUMN', 'fire_at') }}, ', ' order by fire_at) as fires
        from fires
        group by case_name
    )

    select
        schedules.case_name,
        {{ cron_is_valid('schedules.cron') }} as is_valid,
        {{ shown | replace('COLUMN', 'latest.latest_fire_at') }} as latest,
        {{ shown | replace('COLUMN', 'latest_in_week.latest_fire_at') }} as latest_in_week,
        {{ shown | replace('COLUMN', 'latest_celery.latest_fire_at') }} as latest_celery,
        fire_lists.fires,
        cast({{ type_of }}(latest.latest_fire_at) as varchar) as latest_type,
        (select cast({{ type_of }}(fire_at) as varchar) from fires limit 1) as fire_type

    from schedules
    inner join latest on schedules.case_name = latest.case_name
    inner join latest_in_week on schedules.case_name = latest_in_week.case_name
    inner join latest_celery on schedules.case_name = latest_celery.case_name
    left join fire_lists on schedules.case_name = fire_lists.case_name
"""


def cases_query() -> str:
    schedules = ",\n".join(
        f"({literal(case.name)}, {literal(case.cron)}, {timestamp(case.now)}, 7, "
        f"{timestamp(case.fires_from)}, {timestamp(case.fires_to)})"
        for case in CASES
    )
    return QUERY.replace("SCHEDULES", schedules)


def expected(case: Case) -> dict:
    return {
        "is_valid": case.is_valid,
        "latest": case.latest,
        "latest_in_week": case.latest if case.latest_in_week == "same" else case.latest_in_week,
        "latest_celery": case.latest if case.latest_celery == "same" else case.latest_celery,
        "fires": ", ".join(case.fires) or None,
        "latest_type": "timestamp with time zone",
        "fire_type": "timestamp with time zone",
    }


def assert_every_case(workdir: Path) -> None:
    output = dbt("show", workdir, "--quiet", "--inline", cases_query(), "--limit", "-1", "--output", "json")
    rows = {row.pop("case_name"): row for row in json.loads(output)["show"]}
    for row in rows.values():
        row["latest_type"], row["fire_type"] = row["latest_type"].lower(), row["fire_type"].lower()
    assert rows == {case.name: expected(case) for case in CASES}


@pytest.mark.integration
def test_cron_macros_on_duckdb(tmp_path):
    assert_every_case(tmp_path)


@pytest.mark.postgres
def test_cron_macros_on_postgres(tmp_path, postgres_warehouse):
    assert_every_case(tmp_path)
