"""Turn database integrity errors into messages that name the field.

Both SQLite and PostgreSQL report the constraint (or the column) that refused a row, in
different words; this module reads either and answers with the table, the field and a reason a
user can act on. The constraint names come from :data:`hotline.db.base.NAMING_CONVENTION`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from hotline.db.base import Base
from hotline.domain.errors import InvalidInput

_SUFFIX_REASONS = {
    "_not_blank": "is required and may not be blank",
    "_e164": "must be a phone number in E.164 form (+8613812345678)",
}


@dataclass(frozen=True)
class ConstraintViolation:
    table: str | None
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = ".".join(p for p in (self.table, self.field) if p) or "record"
        return f"{where}: {self.reason}"


def _check_reason(table: str, name: str) -> ConstraintViolation:
    body = name.removeprefix(f"ck_{table}_")
    for suffix, reason in _SUFFIX_REASONS.items():
        if body.endswith(suffix):
            return ConstraintViolation(table, body.removesuffix(suffix), reason)
    table_obj = Base.metadata.tables.get(table)
    if table_obj is not None and body in table_obj.columns:
        return ConstraintViolation(table, body, "is not one of the allowed values")
    return ConstraintViolation(table, None, f"violates rule {body.replace('_', ' ')}")


def _table_of_constraint(name: str) -> str | None:
    for table in sorted(Base.metadata.tables, key=len, reverse=True):
        for prefix in ("ck_", "uq_", "fk_", "pk_"):
            if name.startswith(f"{prefix}{table}_"):
                return table
    return None


def explain_integrity_error(exc: IntegrityError) -> ConstraintViolation:
    """The field and reason behind an IntegrityError from either database."""
    text = str(exc.orig)
    # SQLite
    if m := re.search(r"NOT NULL constraint failed: (\w+)\.(\w+)", text):
        return ConstraintViolation(m[1], m[2], "is required")
    if m := re.search(r"UNIQUE constraint failed: ([\w.]+(?:, [\w.]+)*)", text):
        cols = [c.split(".") for c in m[1].split(", ")]
        fields = ", ".join(c[1] for c in cols)
        return ConstraintViolation(cols[0][0], fields, "already exists")
    if m := re.search(r"CHECK constraint failed: (\w+)", text):
        name = m[1]
        table = _table_of_constraint(name)
        return _check_reason(table, name) if table else ConstraintViolation(None, None, name)
    if "FOREIGN KEY constraint failed" in text:
        return ConstraintViolation(None, None, "refers to a record that does not exist")
    # PostgreSQL
    if m := re.search(r'null value in column "(\w+)" of relation "(\w+)"', text):
        return ConstraintViolation(m[2], m[1], "is required")
    if m := re.search(r'violates (unique|check|foreign key) constraint "(\w+)"', text):
        kind, name = m[1], m[2]
        table = _table_of_constraint(name)
        if kind == "check" and table:
            return _check_reason(table, name)
        if kind == "unique":
            detail = re.search(r"Key \(([^)]+)\)", text)
            return ConstraintViolation(table, detail[1] if detail else None, "already exists")
        detail = re.search(r"Key \((\w+)\)", text)
        return ConstraintViolation(
            table, detail[1] if detail else None, "refers to a record that does not exist"
        )
    return ConstraintViolation(None, None, text.splitlines()[0])


@contextmanager
def integrity_as_invalid_input() -> Iterator[None]:
    """Re-raise a database constraint violation as :class:`InvalidInput` naming the field."""
    try:
        yield
    except IntegrityError as exc:
        v = explain_integrity_error(exc)
        raise InvalidInput.single(v.field or v.table or "record", v.reason) from exc


def first_line(exc: BaseException) -> str:
    """The first line of a (database) error, for a log line: SQLAlchemy's wrapper adds the
    statement and a link on further lines; a driver's own error is its first line too."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
