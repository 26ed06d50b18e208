"""Warehouse tables of the SQLFlow source: column types, keys, and how lineage rows are dispatched to them.

Column types are declared so every contract column exists even when SQLFlow leaves it empty.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema, TDataType
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from sources.sqlflow.envelope import Envelope
from sources.sqlflow.lineage import LineageRows, joined_warnings


def typed(data_type: TDataType, *names: str, **extra: Any) -> dict[str, TColumnSchema]:
    """Column hints for `names`; a fresh dict per column, because dlt writes into hint dicts."""
    return {name: {"data_type": data_type, **extra} for name in names}  # type: ignore[typeddict-item]


def key_column(name: str) -> dict[str, TColumnSchema]:
    return typed("text", name, nullable=False)


def local_times(*names: str) -> dict[str, TColumnSchema]:
    """SQLFlow job times are server-local wall-clock times: stored as given, without a time zone."""
    return typed("timestamp", *names, timezone=False)


def utc_times(*names: str) -> dict[str, TColumnSchema]:
    return typed("timestamp", *names, timezone=True)


def jobs_columns() -> dict[str, TColumnSchema]:
    return {
        **key_column("job_id"),
        **typed("text", "job_name", "status", "db_vendor", "error_message", "execute_time"),
        **local_times("create_time", "last_execute_time", "changed_at"),
        **typed("json", "file_names"),
        **typed("text", "show_relation_type", "user_id", "user_email"),
        **typed("bool", "ignore_record_set"),
    }


def summary_columns() -> dict[str, TColumnSchema]:
    return {
        **typed("bigint", "response_code"),
        **typed("text", "mode", "warnings"),
        **typed("bigint", "objects", "relationships"),
    }


def job_lineage_columns() -> dict[str, TColumnSchema]:
    return {
        **local_times("job_changed_at"),
        **utc_times("exported_at"),
        **typed("text", "options_differing"),
        **summary_columns(),
    }


def query_lineage_columns() -> dict[str, TColumnSchema]:
    return {
        **typed("text", "content_sha256", "dbvendor"),
        **utc_times("sent_at"),
        **summary_columns(),
        **typed("text", "session_id"),
        **utc_times("retired_at"),
    }


def child_columns(part: str) -> dict[str, TColumnSchema]:
    """Columns of the objects / columns / relationships child tables (after the key column)."""
    if part == "objects":
        return typed(
            "text",
            "object_id",
            "object_name",
            "qualified_name",
            "object_type",
            "sub_type",
            "server_name",
            "database_name",
            "schema_name",
        )
    if part == "columns":
        return typed("text", "object_id", "column_id", "column_name", "column_source")
    return {
        **typed(
            "text",
            "relationship_id",
            "relationship_type",
            "effect_type",
            "process_id",
            "target_object_id",
            "target_object_name",
            "target_column_id",
            "target_column",
        ),
        **typed("bigint", "source_position"),
        **typed(
            "text",
            "source_object_id",
            "source_object_name",
            "source_column_id",
            "source_column",
            "source_clause_type",
        ),
    }


CHILD_TABLES = ("objects", "columns", "relationships")


class LineageTables:
    """A summary table merged on `key` and three child tables whose rows for a key are replaced as a whole.

    Every table gets its own hints (a table variant) so the summary's primary key does not leak into the
    child tables, where it would collapse all rows of a key into one.
    """

    def __init__(self, summary_table: str, key: str, summary_columns: dict[str, TColumnSchema]):
        self.summary_table = summary_table
        self.key = key
        self.summary_hints = dlt.mark.make_hints(
            table_name=summary_table,
            write_disposition="merge",
            primary_key=key,
            columns={**key_column(key), **summary_columns},
        )
        self.child_hints = {
            part: dlt.mark.make_hints(
                table_name=f"{summary_table}_{part}",
                write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                merge_key=key,
                primary_key=[],
                columns={**key_column(key), **child_columns(part)},
            )
            for part in CHILD_TABLES
        }

    def items(
        self, key_value: str, summary: dict[str, Any], envelope: Envelope, rows: LineageRows
    ) -> Iterator[Any]:
        """The summary row and the child rows of one lineage answer, marked for their tables."""
        summary_row = {
            self.key: key_value,
            **summary,
            "response_code": envelope.code,
            "mode": envelope.mode,
            "warnings": joined_warnings(envelope.warnings, rows.warnings),
            "objects": len(rows.objects),
            "relationships": rows.relationship_count,
        }
        yield dlt.mark.with_hints(summary_row, self.summary_hints, create_table_variant=True)
        children = {"objects": rows.objects, "columns": rows.columns, "relationships": rows.relationships}
        for part, part_rows in children.items():
            if part_rows:
                keyed = [{self.key: key_value, **row} for row in part_rows]
                yield dlt.mark.with_hints(keyed, self.child_hints[part], create_table_variant=True)

    def retired_items(self, key_values: list[str], retired_at: datetime) -> Iterator[Any]:
        """The summary rows of `key_values` again, as stored, with `retired_at` set. The child rows stay (the
        history), flagged through their summary row. A merge replaces whole rows, so the stored values are
        read back first; a key without a stored row gets a row of its own."""
        stored = self.stored_summary_rows(key_values)
        for key_value in key_values:
            row = {**stored.get(key_value, {self.key: key_value}), "retired_at": retired_at}
            yield dlt.mark.with_hints(row, self.summary_hints, create_table_variant=True)

    def stored_summary_rows(self, key_values: list[str]) -> dict[str, dict[str, Any]]:
        """Summary rows of `key_values` in the pipeline's dataset, without dlt's own columns, by key."""
        try:
            with dlt.current.pipeline().sql_client() as client:
                table = client.make_qualified_table_name(self.summary_table)
                key = client.escape_column_name(self.key)
                placeholders = ", ".join(["%s"] * len(key_values))
                query = f"select * from {table} where {key} in ({placeholders})"
                with client.execute_query(query, *key_values) as cursor:
                    names = [column[0] for column in cursor.description]
                    rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        except DatabaseUndefinedRelation:  # no summary table in the warehouse: nothing to keep
            return {}
        return {
            row[self.key]: {name: value for name, value in row.items() if not name.startswith("_dlt_")}
            for row in rows
        }
