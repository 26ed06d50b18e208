"""The SQLFlow loads' check: a file SQLFlow cannot process is named with why, the load stays green."""

import json
import socket
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo.sqlflow_standin import DEMO_USERS, DemoJob, SQLFlowStandIn
from orchestration.warehouse.engine import warehouse_path
from tests.fixtures.deployments import deployment

pytestmark = pytest.mark.integration

SQL = "INSERT INTO t.out{n} (id) SELECT id FROM raw.in{n};\n"
EXPORT_PATH = "/sqlflow/job/exportLineageAsJson"
QUERY_PATH = "/sqlflow/generation/sqlflow"


def point_at(base_url: str, sql_dir: Path, monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    """The SQLFlow settings of a deployment using the server at `base_url` for the SQL files in `sql_dir`,
    with fast retries."""
    user_id, secret_key = next(iter(DEMO_USERS.items()))
    for name, value in {
        "SOURCES__SQLFLOW__BASE_URL": base_url,
        "SOURCES__SQLFLOW__USER_ID": user_id,
        "SOURCES__SQLFLOW__SECRET_KEY": secret_key,
        "SOURCES__SQLFLOW__SQL_PATHS": json.dumps([str(sql_dir / "*.sql")]),
        "RUNTIME__REQUEST_MAX_ATTEMPTS": "2",
        "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.01",
        **settings,
    }.items():
        monkeypatch.setenv(name, value)


def load_sqlflow(*only: str) -> dg.ExecuteInProcessResult:
    """A run of the `sqlflow_load` job; of the `only` sqlflow assets (and their checks) when given."""
    selection = [dg.AssetKey(["sqlflow", resource]) for resource in only] or None
    return (
        deployment("sqlflow")
        .resolve_job_def("sqlflow_load")
        .execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, asset_selection=selection
        )
    )


# the SQLFlow loads alone: the marts built after them are not what these tests are about
SQLFLOW_LOADS = ("jobs", "job_lineage", "query_lineage")


def check_evaluation(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def materialisation_metadata(result: dg.ExecuteInProcessResult, resource: str) -> dict:
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["sqlflow", resource])
    ]
    return {name: value.value for name, value in event.materialization.metadata.items()}


def test_a_file_sqlflow_answers_500_for_warns_naming_it_and_the_rest_loads(tmp_path, monkeypatch):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for number in range(3):
        marker = "-- sqlflow answers 500\n" if number == 1 else ""
        (sql_dir / f"f{number}.sql").write_text(marker + SQL.format(n=number))
    own_options_job = DemoJob("fdd_only", {"a.sql": SQL.format(n=9)}, show_relation_type="fdd")
    with SQLFlowStandIn(jobs=[own_options_job]) as standin:
        standin.answer_sql("sqlflow answers 500")
        point_at(standin.base_url, sql_dir, monkeypatch, SOURCES__SQLFLOW__SHOW_RELATION_TYPE="fdd,fdr")
        result = load_sqlflow()

    assert result.success
    check = check_evaluation(result, "every_file_has_lineage")
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    first_line, failure = check.description.splitlines()
    assert first_line == "1 file(s) without lineage (their earlier lineage, if any, stays):"
    assert failure.startswith(
        f"{sql_dir}/f1.sql: SQLFlow sqlflow/generation/sqlflow failed with HTTP 200, code 500: internal server error"
    )
    assert check.metadata["missing"].value == 1
    [jobs_check] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "every_job_has_lineage"
    ]
    assert (jobs_check.passed, jobs_check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert jobs_check.description.splitlines() == [
        "1 job(s) created with other lineage options than the source's (SQLFlow cannot change them; recreate "
        "the job to):",
        f"{own_options_job.job_id}: showRelationType fdd (the source's: fdd,fdr)",
    ]
    assert jobs_check.metadata["missing"].value == 0


QUEUED_BODY = {"code": 200, "data": {"status": "queued"}}  # code 200, and no lineage in it


def test_an_answer_without_lineage_and_a_file_slower_than_the_timeout_warn_and_are_counted(
    tmp_path, monkeypatch
):
    """Among good files and jobs: one file answered code 200 without lineage, one answered after the read
    timeout, and one job exported without lineage. The run stays green, the others load, the check names
    the two files, the counts are in the materialisations, and a second run within the back-off sends
    neither again."""
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for number in range(2):
        (sql_dir / f"good{number}.sql").write_text(SQL.format(n=number))
    (sql_dir / "queued.sql").write_text("-- answered queued\n" + SQL.format(n=2))
    (sql_dir / "heavy.sql").write_text("-- answered late\n" + SQL.format(n=3))
    jobs = [DemoJob(f"job{number}", {"a.sql": SQL.format(n=number)}) for number in range(2)]
    with SQLFlowStandIn(jobs=jobs) as standin:
        standin.answer_sql("answered queued", 200, QUEUED_BODY)
        standin.slow_sql("answered late", 10)
        standin.fail_next(EXPORT_PATH, 200, QUEUED_BODY)  # the first job exported
        point_at(standin.base_url, sql_dir, monkeypatch, SOURCES__SQLFLOW__REQUEST_TIMEOUT="3")

        first = load_sqlflow(*SQLFLOW_LOADS)
        second = load_sqlflow(*SQLFLOW_LOADS)
        calls = len(standin.calls(QUERY_PATH)), len(standin.calls(EXPORT_PATH))

    assert first.success and second.success
    assert calls == (4, 2)  # the second run sent nothing: both files and the job wait for their back-off
    with duckdb.connect(str(warehouse_path()), read_only=True) as warehouse:
        loaded = warehouse.sql(
            "select sql_file, relationships from sqlflow.query_lineage order by 1"
        ).fetchall()
        failures = warehouse.sql(
            "select sql_file, code, attempts from sqlflow.query_lineage_failures where resolved_at is null "
            "order by 1"
        ).fetchall()
    assert loaded == [(f"{sql_dir}/good0.sql", 2), (f"{sql_dir}/good1.sql", 2)]
    assert failures == [(f"{sql_dir}/heavy.sql", "timeout", 1), (f"{sql_dir}/queued.sql", "no_lineage", 1)]
    for result in (first, second):
        check = check_evaluation(result, "every_file_has_lineage")
        assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
        heading, heavy, queued = check.description.splitlines()
        assert heading == "2 file(s) without lineage (their earlier lineage, if any, stays):"
        assert heavy.startswith(f"{sql_dir}/heavy.sql: SQLFlow sqlflow/generation/sqlflow did not answer at ")
        assert queued.startswith(
            f"{sql_dir}/queued.sql: SQLFlow sqlflow/generation/sqlflow answered code 200 for {sql_dir}/queued.sql "
            "without lineage: no `dbobjs`, `relationships` or `relations` in its data (it holds status; status "
            "'queued')."
        )
        assert check_evaluation(result, "every_job_has_lineage").metadata["missing"].value == 1

    assert counts(first, "query_lineage", "files") == {
        "sent": 4, "loaded": 2, "failed": 2, "backed_off": 0, "unchanged": 0
    }  # fmt: skip
    assert counts(second, "query_lineage", "files") == {
        "sent": 0, "loaded": 0, "failed": 0, "backed_off": 2, "unchanged": 2
    }  # fmt: skip
    assert counts(first, "job_lineage", "jobs") == {
        "sent": 2, "loaded": 1, "failed": 1, "backed_off": 0, "unchanged": 0
    }  # fmt: skip
    assert counts(second, "job_lineage", "jobs") == {
        "sent": 0, "loaded": 0, "failed": 0, "backed_off": 1, "unchanged": 1
    }  # fmt: skip


def counts(result: dg.ExecuteInProcessResult, resource: str, items: str) -> dict[str, int]:
    """The `<items>_<outcome>` counts of a SQLFlow lineage materialisation, by outcome."""
    metadata = materialisation_metadata(result, resource)
    prefix = f"{items}_"
    return {name.removeprefix(prefix): value for name, value in metadata.items() if name.startswith(prefix)}


def test_a_server_that_takes_connections_but_never_answers_fails_the_load_naming_it(tmp_path, monkeypatch):
    with socket.socket() as silent:  # accepts connections (kernel backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base_url = f"http://127.0.0.1:{silent.getsockname()[1]}/gspLive_backend"
        point_at(base_url, tmp_path, monkeypatch, SOURCES__SQLFLOW__REQUEST_TIMEOUT="0.5")

        result = load_sqlflow(*SQLFLOW_LOADS)

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert (
        f"SQLFlow user/generateToken did not answer at {base_url}/user/generateToken: read timeout of 0.5 s "
        "(SOURCES__SQLFLOW__REQUEST_TIMEOUT) after 2 attempt(s)"
    ) in str(failure.step_failure_data.error)
