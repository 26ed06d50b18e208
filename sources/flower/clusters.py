"""The Celery clusters of an estate, each a Flower under its own name.

A cluster is declared by its settings: `[sources.flower.clusters.<name>]` in .dlt/config.toml (and its secrets
in .dlt/secrets.toml), or SOURCES__FLOWER__CLUSTERS__<NAME>__<SETTING> in the environment. A setting a cluster
does not give is read from [sources.flower]: settings its Flowers share are written once. What a cluster's own
section gives wins wherever the shared value is (SOURCES__FLOWER__USERNAME in the environment does not override
a cluster's username in secrets.toml). With no cluster declared, the single-Flower settings of [sources.flower]
are one cluster, `default`.
"""

import os
import re
from dataclasses import dataclass, fields
from typing import Any

import dlt
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.exceptions import ValueNotSecretException
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.configuration.specs.base_configuration import is_secret_hint
from dlt.common.configuration.utils import deserialize_value
from dlt.common.typing import extract_inner_type

from sources.flower.client import CLUSTERS_ENV_PREFIX, FlowerApi, variable_prefix
from sources.flower.settings import SECTIONS, FlowerCredentials, FlowerSettings, flower_settings

DEFAULT_CLUSTER = "default"
# lowercase letters and digits, words joined by single underscores: a name is part of an environment variable
# (where `__` separates sections) and of a pipeline's name
CLUSTER_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
CLUSTER_NAME_RULE = (
    "lowercase letters, digits and single underscores, starting with a letter (e.g. billing, eu_shop)"
)
CLUSTERS_SECTION = "clusters"
SETTING_NAMES = frozenset(field.name for field in fields(FlowerSettings) if not field.name.startswith("_"))


class ClusterSettingsError(ValueError):
    """A cluster's name or settings cannot be used; the message names the setting to fix."""


@dataclass(frozen=True)
class Cluster:
    """One Flower and how to read it; `name` is what the warehouse's `cluster` column holds."""

    name: str
    settings: FlowerSettings
    declared: bool = True  # False: the single Flower of [sources.flower], named `default`

    @property
    def pipeline_name(self) -> str:
        """The dlt pipeline that loads it (its cursor): `flower` for the default cluster, as before clusters."""
        return "flower" if self.name == DEFAULT_CLUSTER else f"flower_{self.name}"

    @property
    def declared_name(self) -> str | None:
        """The name the settings declared it under; None for the single Flower of before clusters."""
        return self.name if self.declared else None

    @property
    def api(self) -> FlowerApi:
        """A client of its Flower whose errors name the cluster and its settings."""
        return self.settings.api_for(self.declared_name)


def declared_names() -> list[str]:
    """The cluster names the settings declare (config.toml, secrets.toml, the environment), checked, sorted."""
    names: dict[str, str] = {}  # name → where it was declared
    # every provider: a cluster may be in config.toml, secrets.toml or both
    for provider in dlt.config.config_providers:
        section, _ = provider.get_value(CLUSTERS_SECTION, Any, None, *SECTIONS)
        for name in section if isinstance(section, dict) else ():
            names.setdefault(name, f"[sources.flower.clusters.{name}] in {provider.name}")
    for variable in os.environ:
        if variable.startswith(CLUSTERS_ENV_PREFIX):
            names.setdefault(_name_in(variable), variable)
    for name, where in names.items():
        check_name(name, where)
    return sorted(names)


def _name_in(variable: str) -> str:
    """The cluster name of SOURCES__FLOWER__CLUSTERS__<NAME>__<SETTING>, lowercased."""
    name, separator, setting = variable.removeprefix(CLUSTERS_ENV_PREFIX).partition("__")
    if not separator or setting.lower() not in SETTING_NAMES:
        raise ClusterSettingsError(
            f"{variable} names no Flower cluster setting: write SOURCES__FLOWER__CLUSTERS__<NAME>__<SETTING> "
            f"with a setting of {', '.join(sorted(SETTING_NAMES)).upper()}."
        )
    return name.lower()


def check_name(name: object, where: str) -> None:
    if not isinstance(name, str) or not CLUSTER_NAME.fullmatch(name):
        raise ClusterSettingsError(
            f"Flower cluster name {name!r} ({where}) is not one taskline accepts: use {CLUSTER_NAME_RULE}."
        )


def flower_clusters() -> list[Cluster]:
    """Every cluster, by name, its settings checked. Two clusters reading the same Flower are refused: their rows
    would be the same tasks twice."""
    declared = declared_names()
    if not declared:
        return [Cluster(DEFAULT_CLUSTER, flower_settings(), declared=False)]
    clusters = [Cluster(name, cluster_settings(name)) for name in declared]
    by_url: dict[str, str] = {}
    for cluster in clusters:
        url = cluster.settings.base_url.rstrip("/").lower()
        if url in by_url:
            raise ClusterSettingsError(
                f"Flower clusters {by_url[url]} and {cluster.name} both read {cluster.settings.base_url}: give each "
                f"its own base_url ({variable_prefix(cluster.name)}BASE_URL)."
            )
        by_url[url] = cluster.name
    return clusters


def cluster_settings(name: str) -> FlowerSettings:
    """A declared cluster's settings, checked: its own section first, then [sources.flower]."""
    settings = resolve_configuration(
        FlowerSettings(), sections=SECTIONS, explicit_value=own_values(name, FlowerSettings)
    )
    settings.check(variable_prefix(name))
    return settings


def cluster_credentials(name: str) -> FlowerCredentials:
    """Only a declared cluster's credentials (its own, else [sources.flower]'s)."""
    return resolve_configuration(
        FlowerCredentials(),
        sections=SECTIONS,
        explicit_value=own_values(name, FlowerCredentials),
        accept_partial=True,
    )


def own_values(name: str, spec: type[BaseConfiguration]) -> dict[str, Any]:
    """The settings cluster `name`'s own section gives, in whichever provider holds them (environment, then
    secrets.toml, then config.toml). dlt's section lookup asks each provider in turn down to [sources.flower],
    so a shared value in the environment would otherwise win over the cluster's own in a file."""
    sections = (*SECTIONS, CLUSTERS_SECTION, name)
    values = {}
    for setting, hint in spec.get_resolvable_fields().items():
        for provider in dlt.config.config_providers:
            value, key = provider.get_value(setting, hint, None, *sections)
            if value is not None and is_secret_hint(hint) and not provider.supports_secrets:
                raise ValueNotSecretException(provider.name, key)  # as dlt's own lookup refuses it
            if value is not None:
                values[setting] = deserialize_value(setting, value, extract_inner_type(hint))
                break
    return values


def flower_cluster(name: str) -> Cluster:
    """Cluster `name` as the settings declare it now."""
    clusters = {cluster.name: cluster for cluster in flower_clusters()}
    if name not in clusters:
        raise ClusterSettingsError(
            f"No Flower cluster is named {name!r} in the settings (declared: {', '.join(clusters)}): its history "
            "stays in the warehouse, but it is no longer captured."
        )
    return clusters[name]
