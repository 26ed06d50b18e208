"""Clusters declared by name (environment and .dlt toml files), the single-Flower settings as the default
cluster, and every bad declaration refused with one sentence naming what to fix."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sources.flower.clusters import ClusterSettingsError, flower_cluster, flower_clusters
from tests.fixtures.paths import ROOT


def declare(monkeypatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def described(clusters) -> dict[str, tuple]:
    return {
        cluster.name: (cluster.pipeline_name, cluster.settings.base_url, cluster.settings.max_tasks)
        for cluster in clusters
    }


def test_without_clusters_the_single_flower_settings_are_the_default_cluster(monkeypatch):
    declare(monkeypatch, SOURCES__FLOWER__BASE_URL="http://flower:5555", SOURCES__FLOWER__MAX_TASKS="7000")
    assert described(flower_clusters()) == {"default": ("flower", "http://flower:5555", 7000)}


def test_clusters_from_the_environment_each_with_its_own_settings_and_the_shared_ones(monkeypatch):
    declare(
        monkeypatch,
        SOURCES__FLOWER__USERNAME="ops",
        SOURCES__FLOWER__PASSWORD="shared-secret",
        SOURCES__FLOWER__CLUSTERS__BILLING__BASE_URL="http://billing:5555",
        SOURCES__FLOWER__CLUSTERS__BILLING__MAX_TASKS="5000",
        SOURCES__FLOWER__CLUSTERS__EU_SHOP__BASE_URL="http://shop:5555",
        SOURCES__FLOWER__CLUSTERS__EU_SHOP__PASSWORD="shop-secret",
    )
    clusters = flower_clusters()
    assert described(clusters) == {
        "billing": ("flower_billing", "http://billing:5555", 5000),
        "eu_shop": ("flower_eu_shop", "http://shop:5555", 100_000),
    }
    assert [(c.settings.username, c.settings.password) for c in clusters] == [
        ("ops", "shared-secret"),
        ("ops", "shop-secret"),
    ]
    assert flower_cluster("eu_shop").settings.base_url == "http://shop:5555"


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        (
            "SOURCES__FLOWER__CLUSTERS__EU-SHOP__BASE_URL",
            "http://shop:5555",
            "Flower cluster name 'eu-shop' (SOURCES__FLOWER__CLUSTERS__EU-SHOP__BASE_URL) is not one taskline "
            "accepts: use lowercase letters, digits and single underscores, starting with a letter (e.g. "
            "billing, eu_shop).",
        ),
        (
            "SOURCES__FLOWER__CLUSTERS__BILLING__BASEURL",
            "http://billing:5555",
            "SOURCES__FLOWER__CLUSTERS__BILLING__BASEURL names no Flower cluster setting: write "
            "SOURCES__FLOWER__CLUSTERS__<NAME>__<SETTING> with a setting of",
        ),
        (
            "SOURCES__FLOWER__CLUSTERS__BILLING__MAX_TASKS",
            "0",
            "Flower max_tasks must be at least 1, got 0 (SOURCES__FLOWER__CLUSTERS__BILLING__MAX_TASKS)",
        ),
    ],
)
def test_a_bad_declaration_is_refused_with_one_sentence_naming_it(monkeypatch, variable, value, sentence):
    declare(
        monkeypatch, SOURCES__FLOWER__CLUSTERS__BILLING__BASE_URL="http://billing:5555", **{variable: value}
    )
    with pytest.raises(ValueError) as refused:
        flower_clusters()
    assert str(refused.value).startswith(sentence)


def test_two_clusters_reading_the_same_flower_are_refused(monkeypatch):
    declare(
        monkeypatch,
        SOURCES__FLOWER__CLUSTERS__BILLING__BASE_URL="http://flower:5555/",
        SOURCES__FLOWER__CLUSTERS__SHOP__BASE_URL="http://FLOWER:5555",
    )
    with pytest.raises(ClusterSettingsError) as refused:
        flower_clusters()
    assert str(refused.value) == (
        "Flower clusters billing and shop both read http://FLOWER:5555: give each its own base_url "
        "(SOURCES__FLOWER__CLUSTERS__SHOP__BASE_URL)."
    )


def test_a_cluster_no_longer_declared_is_named_as_such(monkeypatch):
    declare(monkeypatch, SOURCES__FLOWER__CLUSTERS__BILLING__BASE_URL="http://billing:5555")
    with pytest.raises(ClusterSettingsError) as refused:
        flower_cluster("shop")
    assert str(refused.value) == (
        "No Flower cluster is named 'shop' in the settings (declared: billing): its history stays in the "
        "warehouse, but it is no longer captured."
    )


READ_CLUSTERS = """
import json
from sources.flower.clusters import flower_clusters
print(json.dumps([[c.name, c.settings.base_url, c.settings.password, c.settings.page_size] for c in flower_clusters()]))
"""


CONFIG_TOML = (
    "[sources.flower]\npage_size = 500\n"
    '[sources.flower.clusters.billing]\nbase_url = "http://billing:5555"\n'
    '[sources.flower.clusters.shop]\nbase_url = "http://shop:5555"\npage_size = 2000\n'
)


def read_in(project: Path, config: str = CONFIG_TOML, **environment: str) -> subprocess.CompletedProcess:
    """dlt reads .dlt/ of the working directory: a project of its own, in a process of its own."""
    dlt_dir = project / ".dlt"
    dlt_dir.mkdir()
    (dlt_dir / "config.toml").write_text(config)
    (dlt_dir / "secrets.toml").write_text('[sources.flower.clusters.billing]\npassword = "billing-secret"\n')
    environment |= {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", READ_CLUSTERS], cwd=project, env=environment, capture_output=True, text=True
    )


def clusters_read_in(project: Path, **environment: str) -> list:
    read = read_in(project, **environment)
    assert read.returncode == 0, read.stderr[-2000:]
    return json.loads(read.stdout)


def test_clusters_from_the_toml_files(tmp_path):
    assert clusters_read_in(tmp_path) == [
        ["billing", "http://billing:5555", "billing-secret", 500],
        ["shop", "http://shop:5555", None, 2000],
    ]


def test_a_clusters_own_setting_in_a_file_wins_over_a_shared_one_in_the_environment(tmp_path):
    """dlt alone would take SOURCES__FLOWER__<SETTING> before looking in the files for the cluster's own."""
    shared = {
        "SOURCES__FLOWER__BASE_URL": "http://shared:5555",
        "SOURCES__FLOWER__PASSWORD": "shared-secret",
        "SOURCES__FLOWER__PAGE_SIZE": "100",
    }
    assert clusters_read_in(tmp_path, **shared) == [
        ["billing", "http://billing:5555", "billing-secret", 100],
        ["shop", "http://shop:5555", "shared-secret", 2000],
    ]


def test_a_clusters_secret_in_config_toml_is_refused_as_dlt_refuses_a_shared_one(tmp_path):
    read = read_in(tmp_path, CONFIG_TOML + 'password = "in-the-wrong-file"\n')
    assert read.returncode != 0
    assert (
        "Provider `config.toml` cannot hold secret values but key `sources.flower.clusters.shop.password` "
        "with secret value is present"
    ) in read.stderr
