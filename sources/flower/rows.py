"""Flower task objects as typed warehouse rows and Arrow pages.

Task pages go to dlt as Arrow tables: written as parquet, they skip dlt's row-by-row normalisation and
DuckDB reads them natively (faster than jsonl rows, and in flat memory; `make bench` compares them). A value
that cannot be stored as declared (a time that is not a number, a string UTF-8 cannot encode) is replaced,
never allowed to stop the load: `Oddities` says which task and field, in the log and in the walk's report.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

logger = logging.getLogger("sources.flower")

ARROW_TYPES = {
    "text": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "json": pa.list_(pa.string()),  # children: a list of task uuids
}
# Flower sends every task time as epoch seconds except eta/expires, which are ISO strings.
EPOCH_FIELDS = (
    "received",
    "sent",
    "started",
    "succeeded",
    "failed",
    "retried",
    "revoked",
    "rejected",
    "timestamp",
)
ISO_FIELDS = ("eta", "expires")
# Python reprs of the call and its return value: they may carry personal data.
PAYLOAD_FIELDS = ("args", "kwargs", "result")
TEXT_FIELDS = (
    "name",
    "state",
    "worker",
    *PAYLOAD_FIELDS,
    "exception",
    "traceback",
    "exchange",
    "routing_key",
    "client",
    "root",
    "root_id",
    "parent",
    "parent_id",
)
NUMBER_FIELDS = {"runtime": float, "retries": int, "clock": int}
# Lone UTF-16 surrogates: what Python's surrogateescape makes of bytes that are not UTF-8
SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
ODDITY_SAMPLES = 10


def typed_columns(**types: str) -> dict[str, dict[str, Any]]:
    """Explicit column types, so a column whose values are all null still gets a stable type."""
    return {name: {"data_type": data_type, "nullable": True} for name, data_type in types.items()}


TASK_COLUMNS = typed_columns(
    uuid="text",
    name="text",
    state="text",
    **dict.fromkeys(EPOCH_FIELDS + ISO_FIELDS, "timestamp"),
    runtime="double",
    retries="bigint",
    worker="text",
    **dict.fromkeys(PAYLOAD_FIELDS, "text"),
    exception="text",
    traceback="text",
    exchange="text",
    routing_key="text",
    clock="bigint",
    client="text",
    root="text",
    root_id="text",
    parent="text",
    parent_id="text",
    children="json",
)
TASK_COLUMNS["uuid"]["nullable"] = False
# Flower may list one task twice in a run; the version with the latest event wins the merge.
TASK_COLUMNS["timestamp"]["dedup_sort"] = "desc"


def task_columns(include_payloads: bool) -> dict[str, dict[str, Any]]:
    if include_payloads:
        return TASK_COLUMNS
    return {name: hints for name, hints in TASK_COLUMNS.items() if name not in PAYLOAD_FIELDS}


@dataclass
class Oddities:
    """Values replaced so a task could load: counted, a few samples kept, each one logged."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def note(self, uuid: Any, field_name: str, what: str) -> None:
        self.count += 1
        sample = SURROGATES.sub(REPLACEMENT, f"task {uuid} field {field_name}: {what}")
        if len(self.samples) < ODDITY_SAMPLES:
            self.samples.append(sample)
        logger.warning("Flower %s", sample)


def from_epoch(value: Any) -> datetime | None:
    """An epoch-seconds value as a UTC datetime; None when it is not a number a datetime can hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)


def as_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value, default=str)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def task_row(task: dict[str, Any], include_payloads: bool, oddities: Oddities) -> dict[str, Any]:
    """One Flower task as a warehouse row: every field kept (unknown ones too), times as UTC datetimes.

    A value of the wrong kind (a time that is a string, a count that is text) becomes null and is noted.
    """
    row = dict(task)
    uuid = row.get("uuid")
    for name in EPOCH_FIELDS:
        value = row.get(name)
        row[name] = from_epoch(value)
        if value is not None and row[name] is None:
            oddities.note(uuid, name, f"{_shown(value)} is not an epoch time, loaded as null")
    for name in ISO_FIELDS:
        value = row.get(name)
        row[name] = _from_iso(value) if isinstance(value, str) else None
        if value is not None and row[name] is None:
            oddities.note(uuid, name, f"{_shown(value)} is not an ISO time, loaded as null")
    for name, kind in NUMBER_FIELDS.items():
        value = row.get(name)
        row[name] = _number(value, kind)
        if value is not None and row[name] is None:
            oddities.note(uuid, name, f"{_shown(value)} is not a number, loaded as null")
    for name in TEXT_FIELDS:
        row[name] = as_text(row.get(name))
    children = row.get("children")
    row["children"] = [as_text(child) for child in children] if isinstance(children, list) else None
    if not include_payloads:
        for name in PAYLOAD_FIELDS:
            row.pop(name, None)
    return row


def task_table(
    rows: list[dict[str, Any]], columns: dict[str, dict[str, Any]], oddities: Oddities
) -> pa.Table:
    """A page of task rows as an Arrow table: known columns typed as declared, so every page has the same
    schema; fields Flower adds in a later version are kept as text. Strings UTF-8 cannot encode (lone
    surrogates) are replaced with U+FFFD, task by task and field by field, only when a page holds any."""
    try:
        return _arrow_page(rows, columns)
    except UnicodeEncodeError:
        return _arrow_page([_without_surrogates(row, oddities) for row in rows], columns)


def _arrow_page(rows: list[dict[str, Any]], columns: dict[str, dict[str, Any]]) -> pa.Table:
    known = pa.schema(
        [
            pa.field(name, ARROW_TYPES[hints["data_type"]], hints["nullable"])
            for name, hints in columns.items()
        ]
    )
    table = pa.Table.from_pylist(rows, schema=known)  # keys outside the schema are left out here ...
    for name in sorted({key for row in rows for key in row} - set(columns)):  # ... and added back as text
        table = table.append_column(name, pa.array([as_text(row.get(name)) for row in rows], pa.string()))
    return table


def _without_surrogates(row: dict[str, Any], oddities: Oddities) -> dict[str, Any]:
    cleaned = {}
    for name, value in row.items():
        replaced = _replace_surrogates(value)
        if replaced != value:
            oddities.note(row.get("uuid"), name, "characters UTF-8 cannot encode replaced with U+FFFD")
        cleaned[name] = replaced
    return cleaned


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return SURROGATES.sub(REPLACEMENT, value)
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    return value
