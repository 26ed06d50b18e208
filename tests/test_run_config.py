"""A launch cannot reconfigure a run: every resource (io_manager included), op, the executor and the loggers of
every job are set by the deployment, and run config that would set any of them is refused by Dagster's own
validation, which the UI, GraphQL and the CLI all apply before a run exists."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.fixtures.deployments import deployment
from tests.fixtures.launches import SHELL_OVERRIDE_REFUSED, shell_override
from tests.fixtures.paths import ROOT

defs = deployment("flower", "sqlflow")
JOBS = defs.get_repository_def().get_all_jobs()


def refusal(job: dg.JobDefinition, run_config: dict) -> str:
    """The one sentence Dagster's run config validation refuses `run_config` with."""
    with pytest.raises(dg.DagsterInvalidConfigError) as refused:
        dg.validate_run_config(job, run_config)
    assert len(refused.value.errors) == 1, refused.value
    return refused.value.errors[0].message


def unexpected(entry: str, path: str) -> str:
    return f'Received unexpected config entry "{entry}" at path root:{path}. Expected: "{{ }}".'


def test_every_job_is_enumerated_the_implicit_asset_job_included():
    assert {job.name for job in JOBS} >= {
        "__ASSET_JOB",
        "flower_capture",
        "flower_marts",
        "flower_load",
        "sqlflow_load",
    }


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_a_job_runs_with_empty_run_config(job):
    # the resources' own config (dbt's project, executable, ...) is the deployment's: valid without a launch's
    assert "io_manager" in dg.validate_run_config(job, {})["resources"]


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_no_resource_of_a_job_takes_config_at_launch(job):
    assert "io_manager" in job.resource_defs  # the one Dagster adds implicitly, bound and fixed by us
    for key in job.resource_defs:
        assert refusal(job, {"resources": {key: {"config": {"base_dir": "/"}}}}) == unexpected(
            "base_dir", f"resources:{key}:config"
        )


def test_the_dbt_shell_override_of_issue_28_is_refused():
    flower_marts = defs.resolve_job_def("flower_marts")
    assert refusal(flower_marts, shell_override(Path("/tmp/never"))) == SHELL_OVERRIDE_REFUSED


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_no_op_or_asset_of_a_job_takes_config_inputs_or_outputs_at_launch(job):
    assert job.nodes
    for node in job.nodes:
        assert refusal(job, {"ops": {node.name: {"config": {"full_refresh": True}}}}) == unexpected(
            "full_refresh", f"ops:{node.name}:config"
        )
        for entry in ("inputs", "outputs"):
            assert refusal(job, {"ops": {node.name: {entry: {}}}}).startswith(
                f'Received unexpected config entry "{entry}" at path root:ops:{node.name}.'
            )


@pytest.mark.parametrize("job", JOBS, ids=lambda job: job.name)
def test_neither_the_executor_nor_the_loggers_of_a_job_take_config_at_launch(job):
    for executor_config, entry in [
        ({"retries": {"disabled": {}}}, "retries"),
        ({"marker_to_close": "/tmp/marker"}, "marker_to_close"),
    ]:
        assert refusal(job, {"execution": {"config": executor_config}}) == unexpected(
            entry, "execution:config"
        )
    assert refusal(job, {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}) == unexpected(
        "log_level", "loggers:console:config"
    )


@pytest.mark.integration
@pytest.mark.parametrize("command", ["launch", "execute"])
def test_the_cli_refuses_the_override_and_starts_no_run(tmp_path, command):
    marker = tmp_path / "payload-ran"
    config = tmp_path / "override.yaml"
    config.write_text(yaml.safe_dump(shell_override(marker)))
    home = tmp_path / "dagster_home"
    home.mkdir()
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "job",
            command,
            "-m",
            "orchestration.definitions",
            "-j",
            "flower_marts",
            "-c",
            str(config),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DAGSTER_HOME": str(home),
            "SOURCES__FLOWER__USERNAME": "taskline",
            "SOURCES__FLOWER__PASSWORD": "never-used",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode != 0
    assert SHELL_OVERRIDE_REFUSED in completed.stderr, completed.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []
    assert not marker.exists()
