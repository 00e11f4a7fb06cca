"""Backup tests: a source database (``db_url``, migrated, on SQLite and PostgreSQL) and an
empty restore target of the same kind."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hotline.settings import Settings
from tests.conftest import _pg_create, _pg_drop


@pytest.fixture
def target_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) to restore into, beside the source ``db_url``."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    admin_url = request.getfixturevalue("pg_admin_url")
    name = f"hotline_r_{uuid.uuid4().hex[:12]}"
    url = _pg_create(admin_url, name)
    try:
        yield url
    finally:
        _pg_drop(admin_url, name)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(url: str, store: str = "store", **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database": {"url": url},
            "recordings": {"store_dir": tmp_path / store},
            "backup": {"dir": tmp_path / "backups"},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        return Settings(**values)

    return make
