"""Fixtures shared by the whole suite: real databases, both kinds.

``any_db`` runs a test once on SQLite and once on a real PostgreSQL server that this suite
starts on loopback in a temporary directory (or the server in ``HOTLINE_TEST_DATABASE_URL``).
Each test gets a fresh database migrated to head, cloned from a template so it costs
milliseconds.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from hotline.db import migrate
from hotline.db.session import make_engine, session_factory

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Tests that run ``configure_logging`` (CLI commands in-process) add a root handler bound
    to pytest's capture stream, which is closed after the test; remove it again so later log
    lines do not fail (and stall event loops with "Logging error" tracebacks)."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Superuser URL of a PostgreSQL server for this test session."""
    configured = os.environ.get("HOTLINE_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    from hotline.devtools.pgserver import PostgresServer

    server = PostgresServer().start()
    try:
        yield server.url()
    finally:
        server.cleanup()


def _pg_create(admin_url: str, name: str, template: str | None = None) -> str:
    admin = make_engine(admin_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        tpl = f" TEMPLATE {template}" if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{tpl}'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _pg_drop(admin_url: str, name: str) -> None:
    admin = make_engine(admin_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    name = f"hotline_tpl_{uuid.uuid4().hex[:8]}"
    url = _pg_create(pg_admin_url, name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    _pg_drop(pg_admin_url, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "head.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_shared_url(pg_admin_url: str, pg_template: str) -> Iterator[str]:
    """One migrated PostgreSQL database reused by tests and emptied after each (creating a
    database costs ~0.35 s, a TRUNCATE a few ms)."""
    name = f"hotline_shared_{uuid.uuid4().hex[:8]}"
    url = _pg_create(pg_admin_url, name, pg_template)
    yield url
    _pg_drop(pg_admin_url, name)


def _truncate_all(url: str) -> None:
    from hotline.db.models import Base

    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def _fresh_db(kind: str, request: pytest.FixtureRequest, tmp_path: Path, migrated: bool) -> Iterator[str]:
    if kind == "sqlite":
        path = tmp_path / "hotline.db"
        if migrated:
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    if migrated:
        url = request.getfixturevalue("pg_shared_url")
        try:
            yield url
        finally:
            _truncate_all(url)
        return
    admin_url = request.getfixturevalue("pg_admin_url")
    name = f"hotline_t_{uuid.uuid4().hex[:12]}"
    url = _pg_create(admin_url, name)
    try:
        yield url
    finally:
        _pg_drop(admin_url, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_db_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database (no tables), on SQLite and on PostgreSQL."""
    yield from _fresh_db(db_kind, request, tmp_path, migrated=False)


@pytest.fixture
def db_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database migrated to head, on SQLite and on PostgreSQL."""
    yield from _fresh_db(db_kind, request, tmp_path, migrated=True)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """A migrated SQLite database only, for tests whose subject is not the database."""
    path = tmp_path / "hotline.db"
    shutil.copy(sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()
