"""Turn a SQLFlow lineage answer (`data` of the envelope) into flat rows. Pure functions, no I/O.

SQLFlow has shipped several layouts: the lineage sits in `data.sqlflow` or directly in `data`; `dbobjs` is a
flat list or a `servers -> databases -> schemas -> tables/views/others` tree; edges are under
`relationships` (current) or `relations` (older). All are read; ids are kept as strings.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# the keys a lineage answer holds, empty when the SQL has no data flow
LINEAGE_KEYS = ("dbobjs", "relationships", "relations")
# names SQLFlow uses for "unknown server/database/schema"; they are not part of a real qualified name
PLACEHOLDER_NAMES = frozenset({"DEFAULT", "DEFAULT_SERVER"})
# object collections of a tree node, and the type an object in it has when it does not say
TREE_COLLECTIONS = {
    "tables": "table",
    "views": "view",
    "others": "other",
    "procedures": "procedure",
    "functions": "function",
    "triggers": "trigger",
    "packages": "package",
}


@dataclass
class LineageRows:
    objects: list[dict[str, Any]] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)
    relationships: list[dict[str, Any]] = field(default_factory=list)
    relationship_count: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Place:
    """Where an object sits: the names SQLFlow gives, and its qualified name."""

    server: str | None
    database: str | None
    schema: str | None
    qualified_name: str | None


def as_id(value: Any) -> str | None:
    return None if value is None else str(value)


def is_placeholder(name: str | None) -> bool:
    return not name or name.upper() in PLACEHOLDER_NAMES


def qualify(*parts: str | None) -> str | None:
    """Dot-join the real name parts, leaving out DEFAULT / DEFAULT_SERVER placeholders."""
    return ".".join(part for part in parts if not is_placeholder(part)) or None


def find_lineage_value(data: dict[str, Any], key: str) -> Any:
    """`key` from `data.sqlflow`, else from `data` (servers differ in where they put the lineage)."""
    for container in (data.get("sqlflow"), data):
        if isinstance(container, dict) and container.get(key) is not None:
            return container[key]
    return None


def has_lineage(data: dict[str, Any]) -> bool:
    """Whether the answer carries lineage, even empty (SQL without data flow), rather than none at all (a
    queued or still-running answer, e.g. `{"status": "queued"}`)."""
    return any(find_lineage_value(data, key) is not None for key in LINEAGE_KEYS)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _walk_tree(
    node: dict[str, Any], server: str | None, database: str | None, schema: str | None
) -> Iterator[tuple[dict[str, Any], str, Place]]:
    for child in _dicts(node.get("servers")):
        yield from _walk_tree(child, child.get("name"), database, schema)
    for child in _dicts(node.get("databases")):
        yield from _walk_tree(child, server, child.get("name"), schema)
    for child in _dicts(node.get("schemas")):
        yield from _walk_tree(child, server, database, child.get("name"))
    yield from _tree_objects(node, server, database, schema, ())


def _tree_objects(
    node: dict[str, Any],
    server: str | None,
    database: str | None,
    schema: str | None,
    owners: tuple[str, ...],
) -> Iterator[tuple[dict[str, Any], str, Place]]:
    """The objects of a tree node, and those inside them (an Oracle package's procedures and functions)."""
    for collection, default_type in TREE_COLLECTIONS.items():
        for obj in _dicts(node.get(collection)):
            qualified_name = qualify(database, schema, *owners, obj.get("name"))
            yield obj, default_type, Place(server, database, schema, qualified_name)
            yield from _tree_objects(obj, server, database, schema, (*owners, obj.get("name")))


def iter_objects(dbobjs: Any) -> Iterator[tuple[dict[str, Any], str | None, Place]]:
    """(object, type when it gives none, place) for a flat `dbobjs` list or a `servers` tree."""
    if isinstance(dbobjs, dict):
        yield from _walk_tree(dbobjs, None, None, None)
        return
    for obj in _dicts(dbobjs):
        place = Place(obj.get("server"), obj.get("database"), obj.get("schema"), obj.get("name"))
        yield obj, None, place


def name_key(name: str | None) -> str | None:
    """The id of an object SQLFlow gives no id (samples leave them out): its name, marked as one."""
    return None if name is None else "name:" + name.lower()


def object_row(obj: dict[str, Any], default_type: str | None, place: Place) -> dict[str, Any]:
    return {
        "object_id": as_id(obj.get("id")) or name_key(place.qualified_name or obj.get("name")),
        "object_name": obj.get("name"),
        "qualified_name": place.qualified_name,
        "object_type": obj.get("type") or default_type,
        "sub_type": obj.get("subType"),
        "server_name": place.server,
        "database_name": place.database,
        "schema_name": place.schema,
    }


def column_rows(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "object_id": as_id(obj.get("id")),
            "column_id": as_id(column.get("id")),
            "column_name": column.get("name"),
            "column_source": column.get("source"),
        }
        for column in _dicts(obj.get("columns"))
    ]


def relationship_rows(relationship: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per source of the relationship (one row with empty source fields when it has none)."""
    target = relationship.get("target") if isinstance(relationship.get("target"), dict) else {}
    common = {
        "relationship_id": as_id(relationship.get("id")),
        "relationship_type": relationship.get("type"),
        "effect_type": relationship.get("effectType"),
        "process_id": as_id(relationship.get("processId")),
        "target_object_id": as_id(target.get("parentId")),
        "target_object_name": target.get("parentName"),
        "target_column_id": as_id(target.get("id")),
        "target_column": target.get("column"),
    }
    sources = _dicts(relationship.get("sources")) or [None]
    return [{**common, **source_fields(position, source)} for position, source in enumerate(sources)]


def source_fields(position: int, source: dict[str, Any] | None) -> dict[str, Any]:
    source = source or {}
    return {
        "source_position": position if source else None,
        "source_object_id": as_id(source.get("parentId")),
        "source_object_name": source.get("parentName"),
        "source_column_id": as_id(source.get("id")),
        "source_column": source.get("column"),
        "source_clause_type": source.get("clauseType"),
    }


def ids_by_name(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Object name (plain and qualified, lower case) -> id, for the names that mean one object only."""
    ids: dict[str, set[str]] = {}
    for obj in objects:
        for name in {obj["object_name"], obj["qualified_name"]} - {None}:
            ids.setdefault(name.lower(), set()).add(obj["object_id"])
    return {name: next(iter(found)) for name, found in ids.items() if len(found) == 1}


def place_edge_ends(row: dict[str, Any], ids: dict[str, str], known: set[str]) -> list[str]:
    """An edge end that names its table without an id (as Gudu's 6.x client tests do) gets the id of the
    object of that name, so the edge is resolved like any other. Returns the ends no object matches."""
    unplaced = []
    for end in ("target", "source"):
        name = row[f"{end}_object_name"]
        if row[f"{end}_object_id"] is None and name is not None:
            row[f"{end}_object_id"] = ids.get(name.lower())
        if (name is not None or row[f"{end}_object_id"] is not None) and row[f"{end}_object_id"] not in known:
            unplaced.append(name or row[f"{end}_object_id"])
    return unplaced


def unplaced_warning(relationship_id: str | None, ends: list[str]) -> str:
    listed = ", ".join(dict.fromkeys(ends))
    return f"relationship {relationship_id}: {listed} not among the objects of the answer; edge left out"


def parser_warnings(data: dict[str, Any]) -> list[str]:
    """Messages of `errors[]` (syntax hints, orphan columns): warnings, the lineage that parsed is kept."""
    return [
        str(error.get("errorMessage")).strip()
        for error in _dicts(find_lineage_value(data, "errors"))
        if error.get("errorMessage")
    ]


def normalise_lineage(data: dict[str, Any]) -> LineageRows:
    rows = LineageRows(warnings=parser_warnings(data))
    for obj, default_type, place in iter_objects(find_lineage_value(data, "dbobjs")):
        rows.objects.append(object_row(obj, default_type, place))
        rows.columns.extend(column_rows(obj))
    relationships = find_lineage_value(data, "relationships")
    if relationships is None:
        relationships = find_lineage_value(data, "relations")
    ids, known = ids_by_name(rows.objects), {obj["object_id"] for obj in rows.objects}
    for relationship in _dicts(relationships):
        rows.relationship_count += 1
        for row in relationship_rows(relationship):
            if unplaced := place_edge_ends(row, ids, known):
                rows.warnings.append(unplaced_warning(row["relationship_id"], unplaced))
            rows.relationships.append(row)
    return rows


def joined_warnings(*groups: list[str]) -> str | None:
    """Warnings newline-joined without repeats (the envelope's `error` repeats `errors[]`), None if none."""
    unique = dict.fromkeys(line for group in groups for line in group)
    return "\n".join(unique) or None
