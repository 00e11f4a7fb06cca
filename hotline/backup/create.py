"""``hotline backup``: one consistent copy of the database and the recordings index.

Order matters: the database is copied first, on one snapshot; the recordings index comes from
that same snapshot, and only then are the store's files hashed (and copied), so the manifest
never names a recording the copied database does not hold.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

import hotline
from hotline.backup import catalog, postgres_db, sqlite_db
from hotline.backup.errors import BackupError
from hotline.backup.manifest import FileSum, Manifest, fsync_dir, write_manifest
from hotline.backup.recordings_index import INDEX, STORE_FILES, snapshot_store, write_jsonl
from hotline.settings import Settings
from recordings.store import RecordingStore

log = logging.getLogger(__name__)


@dataclass
class BackupResult:
    path: Path
    manifest: Manifest
    size_bytes: int
    pruned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def same_disk_warning(settings: Settings, engine: Engine, dest_root: Path) -> str | None:
    """Rule 9.1 wants the copy on another machine; say so when it visibly is not."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    try:
        same = os.stat(engine.url.database).st_dev == os.stat(dest_root).st_dev
    except OSError:
        return None
    if not same:
        return None
    return (f"backup.dir {dest_root} is on the same disk as the database: rule 9.1 wants "
            "daily copies on another machine (set backup.dir to a mounted share or disk)")


def make_backup(
    settings: Settings,
    engine: Engine,
    *,
    dest_root: Path | None = None,
    with_audio: bool | None = None,
    prune: bool = True,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> BackupResult:
    """Write one backup under ``dest_root`` (``backup.dir``), then delete backups older than
    ``backup.keep`` days. Raises :class:`BackupError`; a failed run leaves no backup folder."""
    cfg = settings.backup
    root = (dest_root or cfg.dir).absolute()
    audio = cfg.with_audio if with_audio is None else with_audio
    with catalog.locked(root):
        now = clock()
        name = catalog.new_name(root, now)
        partial = root / f".{name}.partial"
        # Customer data and password hashes: readable by hotline's user only.
        partial.mkdir(mode=0o700)
        started = time.monotonic()
        try:
            backups = catalog.list_backups(root)
            previous = backups[-1].path if backups else None
            manifest = _write_payload(settings, engine, partial, audio, now, previous)
            manifest.seconds = round(time.monotonic() - started, 3)
            write_manifest(partial, manifest)
            fsync_dir(partial)
            final = root / name
            os.replace(partial, final)
            fsync_dir(root)
        except BaseException as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(exc, OSError):
                raise BackupError(f"could not write the backup into {root}: {exc}") from exc
            if isinstance(exc, SQLAlchemyError):
                first = str(exc).strip().splitlines()[0]
                raise BackupError(f"could not read the database "
                                  f"{settings.database.display_url()}: {first}") from exc
            raise
        result = BackupResult(final, manifest, _folder_size(final))
        warning = same_disk_warning(settings, engine, root)
        if warning:
            result.warnings.append(warning)
        if manifest.missing_files or manifest.altered_files:
            result.warnings.append(
                f"recordings store: {len(manifest.missing_files)} file(s) missing, "
                f"{len(manifest.altered_files)} altered (run hotline recordings verify)"
            )
        if prune:
            try:
                result.pruned = catalog.prune(root, keep_days=cfg.keep, now=now)
            except OSError as exc:  # the backup itself is complete: say so, do not fail it
                result.warnings.append(f"old backups could not all be deleted: {exc}")
    log.info("backup %s written: %s database at %s, %d rows, %d recording(s), %d bytes%s",
             final, manifest.database_kind, manifest.schema_revision, manifest.total_rows,
             manifest.recordings_rows, result.size_bytes, " with audio" if audio else "")
    for warning in result.warnings:
        log.warning("backup %s: %s", final.name, warning)
    return result


def _write_payload(
    settings: Settings, engine: Engine, folder: Path, with_audio: bool, now: dt.datetime,
    previous: Path | None,
) -> Manifest:
    kind = engine.dialect.name
    if kind == "sqlite":
        db_file = sqlite_db.FILE_NAME
        if not engine.url.database or engine.url.database == ":memory:":
            raise BackupError("database.url: an in-memory SQLite database cannot be backed up")
        facts = sqlite_db.dump(Path(engine.url.database), folder / db_file)
    elif kind == "postgresql":
        db_file = postgres_db.FILE_NAME
        facts = postgres_db.dump(engine, folder / db_file, settings.backup.pg_bin_dir)
    else:
        raise BackupError(f"database.url: cannot back up a {kind} database")
    if not facts.table_rows:
        raise BackupError(
            f"the database {settings.database.display_url()} holds no tables: nothing to back "
            "up (is database.url right? hotline db upgrade creates the schema)"
        )
    os.chmod(folder / db_file, 0o600)
    write_jsonl(folder / INDEX, facts.recordings)
    store = RecordingStore(settings.recordings.store_dir)
    snap = snapshot_store(store, facts.recordings, folder, with_audio=with_audio,
                          previous=previous)
    files = {name: FileSum.of(folder / name) for name in (db_file, INDEX, STORE_FILES)}
    return Manifest(
        created_at=now,
        hotline_version=hotline.__version__,
        database_kind=kind,
        database_file=db_file,
        schema_revision=facts.revision,
        table_rows=facts.table_rows,
        recordings_rows=len(facts.recordings),
        store_files=len(snap.files),
        with_audio=with_audio,
        missing_files=snap.missing,
        altered_files=snap.altered,
        files=files,
        audio_linked=snap.linked,
    )
