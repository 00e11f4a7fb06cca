"""A damaged backup is refused with a message naming what is wrong, before anything is
changed, even with --force."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hotline.backup import CorruptBackup, RestoreRefused, make_backup, restore_backup
from hotline.backup.manifest import FileSum
from hotline.db.models import Customer
from hotline.db.session import make_engine, session_factory
from hotline.settings import Settings
from recordings.store import RecordingStore
from tests.hotline.backup.data import populate


@pytest.fixture
def backup(sqlite_engine: Engine, make_settings: Callable[..., Settings]) -> Path:
    settings = make_settings(str(sqlite_engine.url))
    populate(session_factory(sqlite_engine), RecordingStore(settings.recordings.store_dir), calls=4)
    return make_backup(settings, sqlite_engine, with_audio=True).path


@pytest.fixture
def filled_target(tmp_path: Path, make_settings: Callable[..., Settings],
                  sqlite_template: Path) -> Settings:
    """A database that already holds a customer: a refused restore must leave it as it is."""
    shutil.copy(sqlite_template, tmp_path / "live.db")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    with session_factory(engine)() as s, s.begin():
        s.add(Customer(phone="+8613800005555", name="still here"))
    engine.dispose()
    return make_settings(url, store="live-store")


def _customers(settings: Settings) -> list[str]:
    engine = make_engine(settings.database.url)
    try:
        with session_factory(engine)() as s:
            return list(s.scalars(select(Customer.name)))
    finally:
        engine.dispose()


def _flip_byte(path: Path, offset: int = 5000) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))


def _rewrite_manifest(backup: Path, change: Callable[[dict], None]) -> None:
    """Edit the manifest and re-seal it, as a tool that "fixes" checksums would."""
    data = json.loads((backup / "manifest.json").read_text())
    change(data)
    text = json.dumps(data, indent=2)
    (backup / "manifest.json").write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    (backup / "manifest.json.sha256").write_text(f"{digest}  manifest.json\n")


def test_a_damaged_database_copy_is_refused_even_with_force(
    backup: Path, filled_target: Settings
) -> None:
    _flip_byte(backup / "database.sqlite3")
    with pytest.raises(CorruptBackup, match=r"database\.sqlite3 is damaged: SHA-256 [0-9a-f]{64}, "
                                            r"the manifest says [0-9a-f]{64}"):
        restore_backup(filled_target, backup, force=True)
    assert _customers(filled_target) == ["still here"]


def test_an_edited_manifest_is_refused(backup: Path, filled_target: Settings) -> None:
    manifest = backup / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"calls": 4', '"calls": 5'))
    with pytest.raises(CorruptBackup, match=r"manifest\.json has been altered or damaged"):
        restore_backup(filled_target, backup, force=True)
    assert _customers(filled_target) == ["still here"]


def test_a_missing_file_is_named(backup: Path, filled_target: Settings) -> None:
    (backup / "store-files.jsonl").unlink()
    with pytest.raises(CorruptBackup, match=r"store-files\.jsonl is missing from the backup"):
        restore_backup(filled_target, backup, force=True)


def test_a_damaged_audio_copy_is_refused(backup: Path, filled_target: Settings) -> None:
    audio = sorted((backup / "audio").rglob("*.wav"))[0]
    _flip_byte(audio, 100)
    with pytest.raises(CorruptBackup, match=rf"{audio.name} is damaged: its SHA-256 differs"):
        restore_backup(filled_target, backup, force=True)
    assert _customers(filled_target) == ["still here"]
    assert not filled_target.recordings.store_dir.exists()


def test_a_backup_of_an_unknown_schema_revision_is_refused(
    backup: Path, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    _rewrite_manifest(backup, lambda d: d.update(schema_revision="zz_9999"))
    with pytest.raises(RestoreRefused, match=r"schema revision zz_9999, which this hotline "
                                             r"does not know"):
        restore_backup(make_settings(f"sqlite:///{tmp_path / 'new.db'}"), backup)
    assert not (tmp_path / "new.db").exists()


def test_a_backup_of_the_other_database_kind_is_refused(
    backup: Path, make_settings: Callable[..., Settings]
) -> None:
    target = make_settings("postgresql://hotline@127.0.0.1:1/hotline")
    with pytest.raises(RestoreRefused, match=r"holds a sqlite database but database\.url is "
                                             r"postgresql"):
        restore_backup(target, backup)


def test_a_folder_that_is_not_a_backup_is_named(tmp_path: Path, filled_target: Settings) -> None:
    (tmp_path / "junk").mkdir()
    with pytest.raises(CorruptBackup, match=r"junk is not a complete backup: manifest\.json is "
                                            r"missing"):
        restore_backup(filled_target, tmp_path / "junk")


@pytest.mark.parametrize("db_kind", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_truncated_postgresql_dump_changes_nothing(
    engine: Engine, target_url: str, make_settings: Callable[..., Settings]
) -> None:
    """Even a dump that was bad when it was written (its checksum matches) leaves the target
    as it was: the restore commits only after pg_restore has read all of it. (SQLite's
    backup API copies in one transaction, so it has no such half-way state.)"""
    settings = make_settings(str(engine.url.render_as_string(hide_password=False)))
    populate(session_factory(engine), RecordingStore(settings.recordings.store_dir), calls=40)
    made = make_backup(settings, engine)
    dump = made.path / "database.pgdump"
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) * 2 // 3])
    _rewrite_manifest(made.path, lambda d: d["files"].update(
        {"database.pgdump": FileSum.of(dump).__dict__}))

    target = make_settings(target_url)
    from hotline.db import migrate

    target_engine = make_engine(target_url)
    migrate.upgrade(target_engine)
    try:
        with pytest.raises(Exception, match=r"nothing was changed"):
            restore_backup(target, made.path)
        with target_engine.connect() as conn:
            from tests.hotline.backup.data import table_names

            assert "calls" in table_names(conn)  # the schema that was there is still there
        with session_factory(target_engine)() as s:
            assert s.scalars(select(Customer)).all() == []
    finally:
        target_engine.dispose()
