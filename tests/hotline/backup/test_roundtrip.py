"""A backup of a populated database, restored into an empty one, is the same database: every
table row by row, the recordings' files byte by byte, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hotline.backup import RestoreRefused, make_backup, restore_backup
from hotline.db.models import Call, Customer
from hotline.db.session import make_engine, session_factory
from hotline.settings import Settings
from recordings.store import RecordingStore
from tests.hotline.backup.data import add_recording, dump_tables, populate, store_files


def test_restore_gives_back_every_row_and_recording_file(
    engine: Engine, target_url: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    source = make_settings(str(engine.url.render_as_string(hide_password=False)))
    store = RecordingStore(source.recordings.store_dir)
    populate(session_factory(engine), store)

    made = make_backup(source, engine, with_audio=True)
    m = made.manifest
    assert m.database_kind == engine.dialect.name
    assert m.schema_revision is not None
    assert m.table_rows["calls"] == 12 and m.table_rows["call_legs"] == 24
    assert m.recordings_rows == 3 and m.store_files == 2  # one recording was purged
    assert not m.missing_files and not m.altered_files

    target = make_settings(target_url, store="restored-store")
    result = restore_backup(target, made.path)

    restored_engine = make_engine(target_url)
    try:
        before, after = dump_tables(engine), dump_tables(restored_engine)
        for table in before:
            assert after[table] == before[table], f"table {table} differs after restore"
        assert sum(len(rows) for rows in after.values()) == 60  # what populate() wrote
        # The restored database goes on: new rows get fresh ids (sequences came back too).
        with session_factory(restored_engine)() as s, s.begin():
            s.add(Customer(phone="+8613800009999", name="新客户"))
            s.flush()
            assert s.scalar(select(Customer.id).where(Customer.phone == "+8613800009999")) == 6
    finally:
        restored_engine.dispose()
    assert store_files(target.recordings.store_dir) == store_files(source.recordings.store_dir)
    assert result.files_restored == 2 and result.files_in_place == 0
    assert not result.files_missing and not result.needs_upgrade
    assert result.table_rows["complaints"] == 2


def test_without_audio_the_restore_reports_which_files_are_missing(
    engine: Engine, target_url: str, make_settings: Callable[..., Settings]
) -> None:
    source = make_settings(str(engine.url.render_as_string(hide_password=False)))
    store = RecordingStore(source.recordings.store_dir)
    populate(session_factory(engine), store)
    made = make_backup(source, engine, with_audio=False)
    assert not (made.path / "audio").exists()

    # The store survived the disaster except for one file.
    lost = sorted(store.keys())[0]
    store.remove(lost)
    result = restore_backup(make_settings(target_url), made.path)
    assert [f.key for f in result.files_missing] == [lost]
    assert result.files_in_place == 1 and result.files_restored == 0


def test_a_database_with_rows_is_not_overwritten_unless_forced(
    engine: Engine, target_url: str, make_settings: Callable[..., Settings]
) -> None:
    source = make_settings(str(engine.url.render_as_string(hide_password=False)))
    populate(session_factory(engine), RecordingStore(source.recordings.store_dir), calls=4)
    made = make_backup(source, engine, with_audio=True)

    target = make_settings(target_url, store="other-store")
    restore_backup(target, made.path)
    target_engine = make_engine(target_url)
    try:
        with session_factory(target_engine)() as s, s.begin():
            s.add(Customer(phone="+8613800007777", name="恢复后新增"))
        with pytest.raises(RestoreRefused,
                           match=r"is not empty: rows in agents \(1\), .* and \d+ more table"):
            restore_backup(target, made.path)
        with session_factory(target_engine)() as s:  # nothing was changed
            assert s.scalar(select(Customer.name).where(Customer.phone == "+8613800007777"))

        target_engine.dispose()  # hotline stopped: a SQLite file in use refuses the restore
        restore_backup(target, made.path, force=True)
        with session_factory(target_engine)() as s:
            assert s.scalar(select(Customer.id).where(Customer.phone == "+8613800007777")) is None
            assert len(s.scalars(select(Call)).all()) == 4
    finally:
        target_engine.dispose()


def test_a_schema_without_rows_counts_as_empty(
    engine: Engine, target_url: str, make_settings: Callable[..., Settings]
) -> None:
    """`hotline db upgrade` (or a first `hotline serve`) on the new machine leaves tables
    without rows; restoring over them is what an operator expects to work."""
    from hotline.db import migrate

    source = make_settings(str(engine.url.render_as_string(hide_password=False)))
    populate(session_factory(engine), RecordingStore(source.recordings.store_dir), calls=4)
    made = make_backup(source, engine)
    target_engine = make_engine(target_url)
    migrate.upgrade(target_engine)
    target_engine.dispose()
    result = restore_backup(make_settings(target_url), made.path)
    assert result.table_rows["calls"] == 4


def test_differing_recording_files_stop_the_restore_before_the_database_changes(
    engine: Engine, target_url: str, make_settings: Callable[..., Settings]
) -> None:
    source = make_settings(str(engine.url.render_as_string(hide_password=False)))
    store = RecordingStore(source.recordings.store_dir)
    populate(session_factory(engine), store, calls=4)
    made = make_backup(source, engine, with_audio=True)

    # Restoring next to the same store, in which one file has been replaced.
    key = sorted(store.keys())[0]
    path = store.path(key)
    path.chmod(0o640)
    path.write_bytes(b"not the recording")
    target = make_settings(target_url)
    with pytest.raises(RestoreRefused, match=r"1 file\(s\) in the recordings store .* differ"):
        restore_backup(target, made.path)
    target_engine = make_engine(target_url)
    try:
        with target_engine.connect() as conn:
            from tests.hotline.backup.data import table_names

            assert "calls" not in table_names(conn)  # the database was not touched
    finally:
        target_engine.dispose()
    result = restore_backup(target, made.path, force=True)
    assert result.files_restored == 1 and result.files_in_place == 1
    assert path.read_bytes() != b"not the recording"


def test_the_backup_notes_recordings_whose_files_were_missing_or_altered(
    sqlite_engine: Engine, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(str(sqlite_engine.url))
    store = RecordingStore(settings.recordings.store_dir)
    populate(session_factory(sqlite_engine), store, calls=4)
    with session_factory(sqlite_engine)() as s, s.begin():
        call = s.scalars(select(Call).order_by(Call.id.desc())).first()
        assert call is not None
        gone = add_recording(s, store, call)
        store.remove(gone.storage_key)
        gone_id = gone.id
    keys = sorted(store.keys())
    altered = store.path(keys[0])
    altered.chmod(0o640)
    altered.write_bytes(b"tampered")
    made = make_backup(settings, sqlite_engine)
    assert made.manifest.missing_files == [gone_id]
    assert len(made.manifest.altered_files) == 1
    assert any("1 file(s) missing, 1 altered" in w for w in made.warnings)


def test_daily_backups_with_audio_copy_only_new_recordings(
    sqlite_engine: Engine, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Kept recordings never change: the next backup links the unchanged files of the previous
    one (rule 9.2's incremental backups), and each backup stays complete on its own."""
    import shutil

    from hotline.backup import verify_backup

    settings = make_settings(str(sqlite_engine.url))
    store = RecordingStore(settings.recordings.store_dir)
    populate(session_factory(sqlite_engine), store, calls=4)
    first = make_backup(settings, sqlite_engine, with_audio=True)
    with session_factory(sqlite_engine)() as s, s.begin():
        call = s.scalars(select(Call).order_by(Call.id.desc())).first()
        assert call is not None
        add_recording(s, store, call)
    second = make_backup(settings, sqlite_engine, with_audio=True)

    assert (first.manifest.audio_linked, second.manifest.audio_linked) == (0, 2)
    audio = {p.relative_to(second.path / "audio").as_posix(): p
             for p in (second.path / "audio").rglob("*.wav")}
    assert len(audio) == 3
    linked = [k for k, p in audio.items() if p.stat().st_nlink == 2]
    assert sorted(linked) == sorted(p.relative_to(first.path / "audio").as_posix()
                                    for p in (first.path / "audio").rglob("*.wav"))

    shutil.rmtree(first.path)  # as pruning does: the second backup keeps its files
    verify_backup(second.path)
    result = restore_backup(make_settings(f"sqlite:///{tmp_path / 'new.db'}", store="new-store"),
                            second.path)
    assert result.files_restored == 3
    assert store_files(tmp_path / "new-store") == store_files(settings.recordings.store_dir)
