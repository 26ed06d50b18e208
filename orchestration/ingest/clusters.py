"""Flower's clusters as Dagster shows them: once an estate declares clusters, Flower's assets and their checks
are partitioned by cluster name, so the asset page shows each cluster's captures, failures and checks side by
side, and each capture is a run of one cluster (one down or slow fails only its own). A single Flower (the
settings of before clusters) stays unpartitioned, exactly as it was: its jobs, its clicks and
`dagster asset materialize --select '*'` need no partition.
"""

from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from sources.flower.clusters import DEFAULT_CLUSTER, Cluster, flower_cluster, flower_clusters


@dataclass(frozen=True)
class ClusterPartitions:
    """The clusters the settings declared when the code location loaded."""

    names: tuple[str, ...]

    @classmethod
    def from_settings(cls) -> "ClusterPartitions":
        return cls(tuple(cluster.name for cluster in flower_clusters()))

    @property
    def partitioned(self) -> bool:
        return self.names != (DEFAULT_CLUSTER,)

    @cached_property
    def partitions(self) -> dg.StaticPartitionsDefinition | None:
        return dg.StaticPartitionsDefinition(list(self.names)) if self.partitioned else None

    @staticmethod
    def name_of_run(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str:
        return context.partition_key if context.has_partition_key else DEFAULT_CLUSTER

    def of_run(self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Cluster:
        """The run's cluster, as the settings declare it now."""
        return flower_cluster(self.name_of_run(context))

    def partition_key(self, name: str) -> str | None:
        return name if self.partitioned else None

    def label(self, name: str) -> str:
        """How a sentence names the cluster: not at all while there is only the default one."""
        return f" of cluster {name}" if self.partitioned else ""
