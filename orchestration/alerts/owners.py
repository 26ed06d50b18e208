"""Who owns what an alert is about: seed task_owners' patterns (`*` matches any text), the longest matching
one winning (of as long ones, a cluster's own before one for every cluster). A worker's alerts are matched
as `worker:<name>`, a queue's as `queue:<name>`."""

import re
from dataclasses import dataclass
from typing import Any

from orchestration.warehouse.pipelines import query_records

OWNERS_SQL = "select pattern, owner, cluster from seeds.task_owners"
SUBJECT_PREFIX = {"worker_offline": "worker:", "queue_backlog": "queue:"}


@dataclass(frozen=True)
class Ownership:
    pattern: str
    owner: str
    cluster: str | None

    def matches(self, subject: str, cluster: str) -> bool:
        if self.cluster and self.cluster != cluster.lower():
            return False
        return re.fullmatch(".*".join(map(re.escape, self.pattern.split("*"))), subject) is not None


def read_ownerships() -> list[Ownership]:
    """The seed's rows, most specific first; none before the seed is built."""
    rows = query_records(OWNERS_SQL, ("pattern", "owner", "cluster"))
    ownerships = [
        Ownership(
            row["pattern"].strip(), row["owner"].strip(), (row["cluster"] or "").strip().lower() or None
        )
        for row in rows
        if row["pattern"] and row["owner"]
    ]
    return sorted(ownerships, key=lambda one: (-len(one.pattern), one.cluster is None, one.pattern))


def owner_of(subject: str, cluster: str, ownerships: list[Ownership]) -> str | None:
    return next((one.owner for one in ownerships if one.matches(subject, cluster)), None)


def with_owners(rows: list[dict[str, Any]], ownerships: list[Ownership]) -> list[dict[str, Any]]:
    """Each alert row or event with its `owner` (None: nobody's, the default channels')."""
    for row in rows:
        subject = SUBJECT_PREFIX.get(row.get("rule"), "") + (row.get("subject") or row.get("task_name") or "")
        row["owner"] = owner_of(subject, row.get("cluster") or "", ownerships)
    return rows
