"""Declarative base, column types and constraint helpers shared by every model.

Constraints are named by convention so that Alembic can find, alter and drop them on both
SQLite (batch mode) and PostgreSQL; the same names appear in integrity errors, which
:mod:`hotline.db.errors` turns into messages that name the field.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Enum, MetaData, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back as an aware UTC datetime.

    Naive datetimes are refused on the way in: a wall-clock time without a zone is exactly
    the bug that makes reports an hour (or eight) off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware datetimes (UTC)")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def enum_column(enum_cls: type[StrEnum], name: str) -> Enum:
    """A VARCHAR with a named CHECK listing the enum's values, identical on both databases."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(m.value) for m in enum_cls) + 8,
        values_callable=lambda e: [m.value for m in e],
    )


def not_blank(column: str) -> CheckConstraint:
    """CHECK that a required text column holds more than whitespace."""
    return CheckConstraint(f"length(trim({column})) > 0", name=f"{column}_not_blank")


def e164(column: str, *, nullable: bool = False) -> CheckConstraint:
    """CHECK that a phone column looks like E.164 (``+`` then 7 to 15 digits)."""
    rule = f"({column} LIKE '+%' AND length({column}) BETWEEN 8 AND 16)"
    if nullable:
        rule = f"({column} IS NULL OR {rule})"
    return CheckConstraint(rule, name=f"{column}_e164")


Phone = String(16)
