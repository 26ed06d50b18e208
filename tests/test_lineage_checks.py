"""The SQLFlow loads' check: a file SQLFlow cannot process is named with why, the load stays green."""

import json

import dagster as dg
import pytest

from demo.sqlflow_standin import DEMO_USERS, DemoJob, SQLFlowStandIn
from tests.fixtures.deployments import deployment

pytestmark = pytest.mark.integration

SQL = "INSERT INTO t.out{n} (id) SELECT id FROM raw.in{n};\n"


def test_a_file_sqlflow_answers_500_for_warns_naming_it_and_the_rest_loads(tmp_path, monkeypatch):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for number in range(3):
        marker = "-- sqlflow answers 500\n" if number == 1 else ""
        (sql_dir / f"f{number}.sql").write_text(marker + SQL.format(n=number))
    user_id, secret_key = next(iter(DEMO_USERS.items()))
    own_options_job = DemoJob("fdd_only", {"a.sql": SQL.format(n=9)}, show_relation_type="fdd")
    with SQLFlowStandIn(jobs=[own_options_job]) as standin:
        standin.answer_sql("sqlflow answers 500")
        for name, value in {
            "SOURCES__SQLFLOW__BASE_URL": standin.base_url,
            "SOURCES__SQLFLOW__USER_ID": user_id,
            "SOURCES__SQLFLOW__SECRET_KEY": secret_key,
            "SOURCES__SQLFLOW__SQL_PATHS": json.dumps([str(sql_dir / "*.sql")]),
            "RUNTIME__REQUEST_MAX_ATTEMPTS": "2",
            "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.01",
            "SOURCES__SQLFLOW__SHOW_RELATION_TYPE": "fdd,fdr",
        }.items():
            monkeypatch.setenv(name, value)
        result = (
            deployment("sqlflow")
            .resolve_job_def("sqlflow_load")
            .execute_in_process(instance=dg.DagsterInstance.ephemeral())
        )

    assert result.success
    [check] = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.check_name == "every_file_has_lineage"
    ]
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
