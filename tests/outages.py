"""A database that stops answering, for tests of what hotline does meanwhile.

PostgreSQL: the database refuses new connections (``ALLOW CONNECTIONS false``) and its open
ones are ended, as when the server restarts. SQLite: the file is moved away, so a new
connection opens an empty database without hotline's tables. Either way the engine's pooled
connections are dropped first, and everything is put back on leaving.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, make_url, text

from hotline.db.session import make_engine


@contextmanager
def database_unreachable(engine: Engine) -> Iterator[None]:
    url = engine.url
    engine.dispose()
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        aside = path.with_name(path.name + ".away")
        shutil.move(path, aside)
        try:
            yield
        finally:
            engine.dispose()
            path.unlink(missing_ok=True)
            shutil.move(aside, path)
        return
    name = url.database
    admin = make_engine(make_url(url).set(database="postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                     {"n": name})
    try:
        yield
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        engine.dispose()
