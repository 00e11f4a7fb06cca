"""Alembic environment: runs hotline's migrations on the engine hotline itself would use.

``hotline db upgrade`` (see :mod:`hotline.db.migrate`) passes an open connection in
``config.attributes["connection"]``; run through the plain ``alembic`` command, the URL comes
from hotline's settings. SQLite runs in batch mode so that ALTERs work there too.
"""

from __future__ import annotations

from alembic import context

from hotline.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from hotline.db.session import engine_from_settings
    from hotline.settings import load_settings

    engine = engine_from_settings(load_settings())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run hotline db upgrade")
run_migrations_online()
