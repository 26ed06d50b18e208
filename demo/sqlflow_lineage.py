"""SQL text -> a lineage model shaped like Gudu SQLFlow's, for the local stand-in only.

sqlglot parses each statement; the walk mimics what SQLFlow emits (see sqlflow-api.md §8): upper-cased
names, string ids, intermediate `RS-n` select lists and `INSERT-SELECT-n` objects between the real tables,
`process` objects, a system pseudo column on `fdr` edges, parser warnings in `errors[]`. It understands
INSERT ... SELECT, CREATE TABLE ... AS, CREATE VIEW ... AS, plain SELECT, CTEs, derived tables and UNION.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

# SQLFlow dbvendor -> sqlglot dialect; unknown vendors fall back to Oracle like the real server's CLI does
DIALECTS = {
    "dbvpostgresql": "postgres",
    "dbvgreenplum": "postgres",
    "dbvoracle": "oracle",
    "dbvmssql": "tsql",
    "dbvazuresql": "tsql",
    "dbvmysql": "mysql",
    "dbvsnowflake": "snowflake",
    "dbvbigquery": "bigquery",
    "dbvredshift": "redshift",
    "dbvhive": "hive",
    "dbvsparksql": "spark",
    "dbvdatabricks": "databricks",
    "dbvteradata": "teradata",
    "dbvduckdb": "duckdb",
    "dbvtrino": "trino",
    "dbvpresto": "presto",
    "dbvathena": "athena",
    "dbvclickhouse": "clickhouse",
}
PLACEHOLDER_SERVER = "DEFAULT_SERVER"
PLACEHOLDER_NAME = "DEFAULT"
_CLAUSES = (("where", "where"), ("group", "groupBy"), ("having", "having"))


@dataclass
class LineageModel:
    """One analysis: objects and relationships in SQLFlow's flat form, plus parser problems."""

    dbvendor: str
    objects: list[dict]
    relationships: list[dict]
    errors: list[dict]
    statements: int = 0
    failed_statements: int = 0
    processes: list[dict] = field(default_factory=list)

    @property
    def error_text(self) -> str | None:
        """The top-level `error` string: every message joined by CRLF, as SQLFlow sends it."""
        return "\r\n".join(e["errorMessage"] for e in self.errors) or None


def analyze(
    files: dict[str, str],
    dbvendor: str = "dbvpostgresql",
    relation_types: str = "fdd",
    pseudo_column: str = "RelationRows",
) -> LineageModel:
    """Lineage of every statement in `files` (name -> SQL text), like one SQLFlow job or query."""
    wanted = {t.strip().lower() for t in relation_types.split(",") if t.strip()} or {"fdd"}
    builder = _Builder(DIALECTS.get(dbvendor.lower(), "oracle"), wanted, pseudo_column)
    for text in files.values():
        builder.add_file(text)
    objects = list(builder.objects.values())
    return LineageModel(
        dbvendor=dbvendor,
        objects=[o for o in objects if o["type"] != "process"],
        processes=[o for o in objects if o["type"] == "process"],
        relationships=builder.relationships,
        errors=builder.errors,
        statements=builder.statements,
        failed_statements=builder.failed_statements,
    )


def render_sqlflow(model: LineageModel, layout: str = "flat", relations_key: str = "relationships") -> dict:
    """`data.sqlflow`: flat `dbobjs` (2022+) or the `{servers:[...]}` tree; `relationships` or `relations`."""
    sqlflow: dict = {"dbvendor": model.dbvendor}
    if layout == "tree":
        sqlflow["dbobjs"] = _servers_tree(model)
        sqlflow["processes"] = model.processes
    else:
        sqlflow["dbobjs"] = model.processes + model.objects
    sqlflow[relations_key] = model.relationships
    if model.errors:
        sqlflow["errors"] = model.errors
    return sqlflow


def summarize(model: LineageModel, relations_key: str = "relationships") -> dict:
    """`data.summary` as in the export samples (counts and the most related tables)."""
    real = [o for o in model.objects if o["type"] in ("table", "view")]
    touches: Counter[str] = Counter()
    for rel in model.relationships:
        for end in [rel["target"], *rel["sources"]]:
            touches[end["parentId"]] += 1
    most = sorted((o for o in real if touches[o["id"]]), key=lambda o: -touches[o["id"]])[:3]
    return {
        "schema": len({o.get("schema") for o in real if o.get("schema")}),
        "process": len(model.processes),
        "database": len({o.get("database") for o in real if o.get("database")}),
        "view": sum(o["type"] == "view" for o in real),
        "mostRelationTables": [_table_ref(o) for o in most],
        "column": sum(len(o.get("columns", [])) for o in real),
        "relationship" if relations_key == "relationships" else "relation": len(model.relationships),
        "table": sum(o["type"] == "table" for o in real),
    }


def _table_ref(obj: dict) -> dict:
    ref = {"table": obj["name"].split(".")[-1]}
    if obj.get("schema"):
        ref = {"schema": obj["schema"], **ref}
    return ref


def _servers_tree(model: LineageModel) -> dict:
    """The hierarchical `dbobjs`: unknown server/database/schema appear as DEFAULT_SERVER / DEFAULT."""
    schemas: dict[tuple[str, str], dict] = {}
    for obj in model.objects:
        key = (obj.get("database") or PLACEHOLDER_NAME, obj.get("schema") or PLACEHOLDER_NAME)
        schema = schemas.setdefault(key, {"name": key[1], "tables": [], "views": [], "others": []})
        bucket = {"table": "tables", "view": "views"}.get(obj["type"], "others")
        leaf = {k: v for k, v in obj.items() if k not in ("schema", "database")}
        leaf["name"] = obj["name"].split(".")[-1] if bucket != "others" else obj["name"]
        schema[bucket].append(leaf)
    databases: dict[str, dict] = {}
    for (database, _), schema in schemas.items():
        databases.setdefault(database, {"name": database, "schemas": []})["schemas"].append(schema)
    server = {
        "name": PLACEHOLDER_SERVER,
        "dbVendor": model.dbvendor,
        "supportsCatalogs": True,
        "supportsSchemas": True,
        "databases": list(databases.values()),
    }
    return {"createdBy": "taskline sqlflow stand-in", "servers": [server]}


@dataclass
class _Source:
    """One FROM/JOIN item of a SELECT: a real table or an intermediate select list."""

    alias: str
    obj: dict
    text: str


class _Builder:
    def __init__(self, dialect: str, relation_types: set[str], pseudo_column: str):
        self.dialect = dialect
        self.fdr = "fdr" in relation_types
        self.pseudo_column = pseudo_column
        self.objects: dict[str, dict] = {}
        self.relationships: list[dict] = []
        self.errors: list[dict] = []
        self.statements = 0
        self.failed_statements = 0
        self._ids = itertools.count(1)
        self._relationship_ids = itertools.count(10001)
        self._tables: dict[str, dict] = {}
        self._outputs: dict[str, list[dict]] = {}
        self._names: Counter[str] = Counter()
        self._text = ""
        self._offset = 0

    # ---- files and statements -------------------------------------------------------------------------
    def add_file(self, text: str) -> None:
        self._text = text
        try:
            chunks = self._split_statements(text)
        except TokenError as error:
            self._syntax_error(str(error), 1, 1)
            self.failed_statements += 1
            return
        for start, chunk in chunks:
            self._offset = start
            self.statements += 1
            try:
                statement = sqlglot.parse_one(chunk, dialect=self.dialect)
            except ParseError as error:
                self.failed_statements += 1
                self._report_parse_error(error)
                continue
            self._statement(statement, chunk)

    def _split_statements(self, text: str) -> list[tuple[int, str]]:
        """(offset, text) of each statement; semicolons inside strings/comments are not separators."""
        chunks, current = [], []
        for token in sqlglot.Dialect.get_or_raise(self.dialect).tokenize(text):
            if token.token_type == TokenType.SEMICOLON:
                chunks.append(current)
                current = []
            else:
                current.append(token)
        chunks.append(current)
        return [(c[0].start, text[c[0].start : c[-1].end + 1]) for c in chunks if c]

    def _report_parse_error(self, error: ParseError) -> None:
        first = error.errors[0] if error.errors else {}
        near = first.get("highlight") or "?"
        # sqlglot points at the end of the offending token, SQLFlow at its start
        line, col = self._absolute(first.get("line", 1), max(1, first.get("col", 1) - len(near) + 1))
        self._syntax_error(f"syntax error, state:1(10102) near: {near}({line},{col})", line, col)

    def _syntax_error(self, message: str, line: int, col: int) -> None:
        self.errors.append(
            {"errorMessage": message, "errorType": "SyntaxError", "coordinates": _span(line, col, 1)}
        )

    def _absolute(self, line_in_chunk: int, col_in_chunk: int) -> tuple[int, int]:
        """Chunk-relative line/col -> position in the whole file (SQLFlow coordinates are per file)."""
        before = self._text[: self._offset]
        base_line = before.count("\n")
        if line_in_chunk == 1:
            return base_line + 1, len(before) - (before.rfind("\n") + 1) + col_in_chunk
        return base_line + line_in_chunk, col_in_chunk

    def _position(self, node: exp.Expression) -> tuple[int, int]:
        start = node.meta.get("start") if node.meta else None
        if start is None:
            return 1, 1
        before = self._text[: self._offset + start]
        return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1

    def _statement(self, statement: exp.Expression, sql: str) -> None:
        if isinstance(statement, exp.Insert) and isinstance(statement.expression, exp.Query):
            target = self._table(_table_of(statement.this), "table")
            self._write(statement.this, target, statement.expression, "insert", "INSERT-SELECT", sql)
        elif isinstance(statement, exp.Create) and isinstance(statement.expression, exp.Query):
            kind = "view" if statement.kind == "VIEW" else "table"
            target = self._table(_table_of(statement.this), kind)
            self._write(statement.this, target, statement.expression, f"create_{kind}", "RS", sql)
        elif isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            table = self._table(_table_of(statement.this), "table")
            for column in statement.this.expressions:
                if isinstance(column, exp.ColumnDef):
                    self._column(table, column.name)
        elif isinstance(statement, exp.Query):
            self._select_list(statement, {}, "RS")

    def _write(
        self, this: exp.Expression, target: dict, query: exp.Query, effect: str, prefix: str, sql: str
    ) -> None:
        """target <- (INSERT-SELECT-n | RS-n) <- sources, with a process object for the statement."""
        process = self._process(effect, sql)
        select_list = self._select_list(query, {}, prefix)
        outputs = self._outputs[select_list["id"]]
        names = [c.name for c in this.expressions] if isinstance(this, exp.Schema) else []
        for position, source in enumerate(outputs):
            name = names[position] if position < len(names) else source["name"]
            column = self._column(target, name)
            self._relate("fdd", effect, (target, column), [(select_list, source, None)], process["id"])
        pseudo = self._pseudo(select_list, create=False)
        if self.fdr and pseudo:
            self._relate(
                "fdr", effect, (target, self._pseudo(target)), [(select_list, pseudo, None)], process["id"]
            )

    # ---- select lists ---------------------------------------------------------------------------------
    def _select_list(self, query: exp.Expression, ctes: dict[str, dict], prefix: str) -> dict:
        """The intermediate object for `query` (RS-n / INSERT-SELECT-n), with its edges from the sources."""
        while isinstance(query, exp.Subquery):
            query = query.this
        if isinstance(query, exp.SetOperation):
            return self._union(query, ctes, prefix)
        ctes = dict(ctes)
        for cte in query.args.get("with_").expressions if query.args.get("with_") else []:
            ctes[cte.alias_or_name.lower()] = self._select_list(cte.this, ctes, "RS")
        sources = self._sources(query, ctes)
        select_list = self._intermediate(prefix)
        for projection in query.expressions:
            self._projection(select_list, projection, sources)
        if self.fdr and sources:
            self._filters(select_list, query, sources)
        return select_list

    def _union(self, query: exp.SetOperation, ctes: dict[str, dict], prefix: str) -> dict:
        branches = [self._select_list(q, ctes, "RS") for q in (query.left, query.right)]
        select_list = self._intermediate(prefix)
        for position, first in enumerate(self._outputs[branches[0]["id"]]):
            column = self._output(select_list, first["name"])
            sources = [
                (b, self._outputs[b["id"]][position], None)
                for b in branches
                if position < len(self._outputs[b["id"]])
            ]
            self._relate("fdd", "select", (select_list, column), sources)
        return select_list

    def _sources(self, query: exp.Expression, ctes: dict[str, dict]) -> list[_Source]:
        items = [query.args["from_"].this] if query.args.get("from_") else []
        items += [join.this for join in query.args.get("joins") or []]
        sources = []
        for item in items:
            if isinstance(item, exp.Table) and not item.db and item.name.lower() in ctes:
                sources.append(_Source(item.alias_or_name.lower(), ctes[item.name.lower()], item.sql()))
            elif isinstance(item, exp.Table):
                sources.append(_Source(item.alias_or_name.lower(), self._table(item, "table"), item.sql()))
            elif isinstance(item, exp.Subquery):
                sources.append(
                    _Source(item.alias.lower(), self._select_list(item.this, ctes, "RS"), item.alias)
                )
        return sources

    def _projection(self, select_list: dict, projection: exp.Expression, sources: list[_Source]) -> None:
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and projection.is_star):
            self._star(select_list, projection, sources)
            return
        column = self._output(select_list, projection.alias_or_name or projection.sql())
        inputs = [self._resolve(c, sources) for c in _columns(projection)]
        if inputs:
            self._relate("fdd", "select", (select_list, column), [(obj, col, None) for obj, col in inputs])
        elif self.fdr and sources and projection.find(exp.Count):
            # COUNT(*) depends on the number of rows only: SQLFlow draws it from the pseudo column
            first = sources[0].obj
            self._relate("fdr", "select", (select_list, column), [(first, self._pseudo(first), None)])

    def _star(self, select_list: dict, star: exp.Expression, sources: list[_Source]) -> None:
        qualifier = star.table.lower() if isinstance(star, exp.Column) else ""
        for source in sources:
            if qualifier and source.alias != qualifier:
                continue
            known = self._outputs.get(source.obj["id"])
            for source_column in known if known is not None else [self._column(source.obj, "*")]:
                column = self._output(select_list, source_column["name"])
                self._relate("fdd", "select", (select_list, column), [(source.obj, source_column, None)])

    def _filters(self, select_list: dict, query: exp.Expression, sources: list[_Source]) -> None:
        """fdr: columns in WHERE / JOIN ON / GROUP BY / HAVING decide which rows reach the select list."""
        clauses = [(query.args.get(arg), clause) for arg, clause in _CLAUSES]
        clauses += [(join.args.get("on"), "joinCondition") for join in query.args.get("joins") or []]
        inputs = []
        for node, clause in clauses:
            for column in _columns(node) if node is not None else []:
                obj, col = self._resolve(column, sources)
                inputs.append((obj, col, clause))
        if inputs:
            self._relate("fdr", "select", (select_list, self._pseudo(select_list)), inputs)

    def _resolve(self, column: exp.Column, sources: list[_Source]) -> tuple[dict, dict]:
        """The source object+column a reference reads; unresolvable names link to the first table."""
        name = column.name
        qualifier = column.table.lower()
        for source in sources:
            if qualifier and source.alias == qualifier:
                return source.obj, self._source_column(source.obj, name)
        if not qualifier and len(sources) == 1:
            return sources[0].obj, self._source_column(sources[0].obj, name)
        for source in sources:
            known = self._outputs.get(source.obj["id"])
            if not qualifier and known and any(c["name"] == name.upper() for c in known):
                return source.obj, self._source_column(source.obj, name)
        if not sources:
            return self._orphan_table(), self._column(self._orphan_table(), name)
        self._orphan_warning(column, sources[0])
        return sources[0].obj, self._source_column(sources[0].obj, name)

    def _orphan_warning(self, column: exp.Column, first: _Source) -> None:
        line, col = self._position(column.this)
        self.errors.append(
            {
                "errorMessage": f"find orphan column(10500) near: {column.name}({line},{col})",
                "errorType": "SyntaxHint",
                "coordinates": _span(line, col, len(column.name)),
            }
        )
        self.errors.append(
            {
                "errorMessage": f"Link orphan column [{column.name}] to the first table [{first.text}]",
                "errorType": "LinkOrphanColumn",
                "coordinates": _span(line, col, len(column.name)),
            }
        )

    def _orphan_table(self) -> dict:
        if "PSEUDO_TABLE_INCLUDE_ORPHAN_COLUMN" not in self._tables:
            obj = {
                "id": self._new_id(),
                "name": "PSEUDO_TABLE_INCLUDE_ORPHAN_COLUMN",
                "type": "pseudoTable",
                "columns": [],
            }
            self._tables["PSEUDO_TABLE_INCLUDE_ORPHAN_COLUMN"] = self.objects[obj["id"]] = obj
        return self._tables["PSEUDO_TABLE_INCLUDE_ORPHAN_COLUMN"]

    # ---- objects, columns, relationships --------------------------------------------------------------
    def _new_id(self) -> str:
        return str(next(self._ids))

    def _table(self, table: exp.Table, kind: str) -> dict:
        parts = [p.upper() for p in (table.catalog, table.db, table.name) if p]
        name = ".".join(parts)
        obj = self._tables.get(name)
        if obj is None:
            obj = {"id": self._new_id(), "name": name, "type": kind, "columns": []}
            if table.db:
                obj["schema"] = table.db.upper()
            if table.catalog:
                obj["database"] = table.catalog.upper()
            self._tables[name] = self.objects[obj["id"]] = obj
        if kind == "view":
            obj["type"] = "view"
        return obj

    def _intermediate(self, prefix: str) -> dict:
        self._names[prefix] += 1
        kind = "insert-select" if prefix == "INSERT-SELECT" else "select_list"
        obj = {"id": self._new_id(), "name": f"{prefix}-{self._names[prefix]}", "type": kind, "columns": []}
        self.objects[obj["id"]] = obj
        self._outputs[obj["id"]] = []
        return obj

    def _process(self, effect: str, sql: str) -> dict:
        label = {"insert": "INSERT", "create_view": "CREATE VIEW", "create_table": "CREATE TABLE"}[effect]
        self._names[label] += 1
        obj = {
            "id": self._new_id(),
            "name": f"QUERY {label}-{self._names[label]}",
            "type": "process",
            "queryHashId": hashlib.md5(sql.encode()).hexdigest(),
        }
        self.objects[obj["id"]] = obj
        return obj

    def _column(self, obj: dict, name: str) -> dict:
        upper = name.upper()
        for column in obj["columns"]:
            if column["name"] == upper and column.get("source") != "system":
                return column
        column = {"id": self._new_id(), "name": upper}
        obj["columns"].append(column)
        return column

    def _output(self, select_list: dict, name: str) -> dict:
        """A select-list column; ids like "27_1" as SQLFlow gives (strings, not numbers)."""
        outputs = self._outputs[select_list["id"]]
        column = {"id": f"{select_list['id']}_{len(outputs) + 1}", "name": name.upper()}
        select_list["columns"].append(column)
        outputs.append(column)
        return column

    def _source_column(self, obj: dict, name: str) -> dict:
        for column in self._outputs.get(obj["id"], []):
            if column["name"] == name.upper():
                return column
        return self._column(obj, name)

    def _pseudo(self, obj: dict, create: bool = True) -> dict | None:
        for column in obj["columns"]:
            if column.get("source") == "system":
                return column
        if not create:
            return None
        column = {
            "id": f"{obj['id']}_0" if obj["id"] in self._outputs else self._new_id(),
            "name": self.pseudo_column,
            "source": "system",
        }
        obj["columns"].append(column)
        return column

    def _relate(
        self,
        kind: str,
        effect: str,
        target: tuple[dict, dict],
        sources: list[tuple[dict, dict, str | None]],
        process_id: str | None = None,
    ) -> None:
        relationship = {
            "id": str(next(self._relationship_ids)),
            "type": kind,
            "effectType": effect,
            "target": _end(*target),
            "sources": [_end(obj, col, clause) for obj, col, clause in sources],
        }
        if process_id:
            relationship["processId"] = process_id
        self.relationships.append(relationship)


def _end(obj: dict, column: dict, clause: str | None = None) -> dict:
    end = {"id": column["id"], "column": column["name"], "parentId": obj["id"], "parentName": obj["name"]}
    if clause:
        end["clauseType"] = clause
    return end


def _table_of(this: exp.Expression) -> exp.Table:
    return this.this if isinstance(this, exp.Schema) else this


def _columns(node: exp.Expression) -> list[exp.Column]:
    """Column references of an expression, not those of nested subqueries (they have their own scope)."""
    return [c for c in node.find_all(exp.Column) if not c.is_star and not _inside_query(c, node)]


def _inside_query(column: exp.Column, root: exp.Expression) -> bool:
    ancestor = column.parent if column is not root else None
    while ancestor is not None and ancestor is not root:
        if isinstance(ancestor, exp.Query):
            return True
        ancestor = ancestor.parent
    return False


def _span(line: int, col: int, length: int) -> list[dict]:
    return [{"x": line, "y": col, "hashCode": "0"}, {"x": line, "y": col + length, "hashCode": "0"}]
