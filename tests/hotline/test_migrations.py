"""Alembic migrations: they create the schema the models describe, on both databases, and
every step goes down as well as up."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from hotline.db import migrate
from hotline.db.models import Base
from hotline.db.session import make_engine


def test_models_and_migrations_agree(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], f"models differ from migrations; add an Alembic revision: {diff}"


def test_every_revision_upgrades_and_downgrades(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    revisions = migrate.revisions()
    assert revisions, "no migrations found"
    for rev in revisions:
        migrate.upgrade(engine, rev)
        assert migrate.current(engine) == rev
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    for previous in [*reversed(revisions[:-1]), "base"]:
        migrate.downgrade(engine, previous)
        assert migrate.current(engine) == (None if previous == "base" else previous)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    # and up again, to be sure the downgrade left nothing behind that blocks it
    migrate.upgrade(engine)
    engine.dispose()


@pytest.mark.parametrize("table", sorted(Base.metadata.tables))
def test_tables_exist_after_upgrade(engine, table: str) -> None:  # type: ignore[no-untyped-def]
    assert table in inspect(engine).get_table_names()
