"""The poll's hot statements: a page of rows inserted, and a page of ids looked up, at once.

SQLAlchemy's general machinery costs more per row than SQLite spends on the row: rendering a
500-placeholder IN list on every execution, and running every parameter of a 500-row INSERT
through its per-row compiled-parameter steps (bench/README.md, "ingest"). On SQLite both are
done here with what SQLAlchemy itself would bind; other databases take SQLAlchemy's path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Table
from sqlalchemy.orm import Session

# SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32 (the floor we support is newer).
_SQLITE_MAX_PARAMETERS = 32_766


def one_of(dialect: str, column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`column IN :name`, the list bound as `listed(dialect, values)`. On SQLite it is one
    JSON parameter read by `json_each`: the same index search, without a fresh statement of
    500 placeholders per lookup. Build the statement once and execute it with new values."""
    if dialect == "sqlite":
        each = sa.func.json_each(sa.bindparam(name, type_=sa.Text)).table_valued("value")
        return column.in_(sa.select(each.c.value))
    return column.in_(sa.bindparam(name, expanding=True))


def listed(dialect: str, values: Iterable[str | int]) -> str | list[str | int]:
    """The value to bind for `one_of(dialect, column, name)`."""
    return json.dumps(list(values)) if dialect == "sqlite" else list(values)


def insert_returning(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """INSERT `rows` (all with the same keys) and return `returning` of each, in no order.

    On SQLite: one multi-row INSERT ... RETURNING per 32,766 parameters, each value through
    the bind processor SQLAlchemy would use for its column and the column's scalar default
    filled in where the row has no key. Elsewhere: SQLAlchemy's insertmanyvalues."""
    if not rows:
        return []
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        columns = [table.c[name] for name in returning]
        return [tuple(row) for row in session.execute(sa.insert(table).returning(*columns), rows)]
    keys = list(rows[0])
    defaults = _scalar_defaults(table, keys)
    names = keys + list(defaults)
    # dialect_impl().bind_processor() is what SQLAlchemy's own INSERT binds with (its private
    # _cached_bind_processor memoises the same call): public API, ~10 us more per page
    types = [table.c[name].type.dialect_impl(dialect) for name in names]
    processors = [type_.bind_processor(dialect) for type_ in types]
    fill = list(defaults.values())
    placeholders = "(" + ", ".join("?" * len(names)) + ")"
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
    tail = f" RETURNING {', '.join(returning)}"
    per_statement = _SQLITE_MAX_PARAMETERS // len(names)
    dbapi = dialect.loaded_dbapi
    cursor = session.connection().connection.cursor()
    out: list[tuple[Any, ...]] = []
    try:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params: list[Any] = []
            for row in chunk:
                values = [row[key] for key in keys]
                values += fill
                params += [p(v) if p else v for p, v in zip(processors, values, strict=True)]
            sql = head + ", ".join([placeholders] * len(chunk)) + tail
            try:
                out += cursor.execute(sql, params).fetchall()
            except dbapi.Error as exc:
                # as SQLAlchemy would raise it: callers catch sqlalchemy.exc.IntegrityError
                raise sa.exc.DBAPIError.instance(
                    sql, params, exc, dbapi.Error, dialect=dialect
                ) from exc
    finally:
        cursor.close()
    return out


def _scalar_defaults(table: Table, keys: Sequence[str]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in keys or column.default is None:
            continue
        default = column.default
        if not default.is_scalar:  # a callable or SQL default: not needed by our rows yet
            raise ValueError(f"{table.name}.{column.name}: its default is not a constant")
        defaults[column.name] = default.arg  # type: ignore[attr-defined]
    return defaults
