"""What a backup records about the database it copied, read from the copied state itself:
the schema revision, every table's row count, and the ``recordings`` rows (the index).

Read through a connection that sees exactly what was dumped (the SQLite copy; the PostgreSQL
transaction whose snapshot pg_dump uses), so the manifest and the dump always agree.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, MetaData, Table, inspect, select, text

VERSION_TABLE = "alembic_version"


@dataclass
class SnapshotFacts:
    revision: str | None
    table_rows: dict[str, int]
    recordings: list[dict[str, Any]] = field(default_factory=list)


def table_names(conn: Connection) -> list[str]:
    return sorted(inspect(conn).get_table_names())


def count_rows(conn: Connection) -> dict[str, int]:
    quote = conn.dialect.identifier_preparer.quote
    return {
        name: int(conn.execute(text(f"SELECT count(*) FROM {quote(name)}")).scalar_one())
        for name in table_names(conn)
    }


def schema_revision(conn: Connection) -> str | None:
    if VERSION_TABLE not in table_names(conn):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def json_value(value: Any) -> Any:
    """A column value as JSON: times as ISO 8601 in UTC (naive ones are UTC, as hotline
    stores them), decimals as strings, bytes as base64."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def recording_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every ``recordings`` row, reflected (so a backup of an older schema reads too)."""
    if "recordings" not in table_names(conn):
        return []
    table = Table("recordings", MetaData(), autoload_with=conn)
    rows = conn.execute(select(table).order_by(table.c.id)).mappings()
    return [{k: json_value(v) for k, v in row.items()} for row in rows]


def read_facts(conn: Connection) -> SnapshotFacts:
    return SnapshotFacts(schema_revision(conn), count_rows(conn), recording_rows(conn))


def tables_with_rows(conn: Connection) -> dict[str, int]:
    """Tables holding rows, the schema's version stamp aside: none means the database is
    empty (a schema alone, as ``hotline db upgrade`` leaves it, counts as empty)."""
    return {name: n for name, n in count_rows(conn).items() if n and name != VERSION_TABLE}
