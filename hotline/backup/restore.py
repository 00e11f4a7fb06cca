"""``hotline restore``: check a backup completely, then bring it back into an empty database.

Everything that can refuse the restore is checked before anything is written: the manifest's
own checksum, every payload file's (and every audio copy's), the database kind, the schema
revision, that the target holds no rows, and that no file in the recordings store differs
from the backup's. Only then is the database replaced (one transaction on either database),
its row counts and recordings compared with the manifest, and missing audio put back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from hotline.backup import postgres_db, sqlite_db
from hotline.backup.errors import BackupError, CorruptBackup, RestoreRefused
from hotline.backup.manifest import Manifest, check_file, read_manifest
from hotline.backup.recordings_index import (
    INDEX,
    StoreFile,
    check_audio,
    plan_files,
    read_jsonl,
    read_store_files,
    refuse_conflicts,
    restore_files,
)
from hotline.backup.snapshot import count_rows, recording_rows, tables_with_rows
from hotline.db import migrate
from hotline.settings import Settings
from recordings.store import RecordingStore


@dataclass
class VerifiedBackup:
    path: Path
    manifest: Manifest
    store_files: list[StoreFile]
    index: list[dict[str, Any]]


def verify_backup(path: Path) -> VerifiedBackup:
    """Every checksum of the backup in ``path``, or :class:`CorruptBackup` naming the file."""
    manifest = read_manifest(path)
    for name, expected in sorted(manifest.files.items()):
        check_file(path, name, expected)
    if manifest.database_file not in manifest.files:
        raise CorruptBackup(f"{path}: the manifest has no checksum for {manifest.database_file}")
    index = read_jsonl(path / INDEX)
    if len(index) != manifest.recordings_rows:
        raise CorruptBackup(
            f"{path / INDEX} holds {len(index)} recording(s), the manifest says "
            f"{manifest.recordings_rows}"
        )
    files = read_store_files(path)
    if manifest.with_audio:
        check_audio(path, files)
    return VerifiedBackup(path, manifest, files, index)


@dataclass
class RestoreResult:
    backup: Path
    manifest: Manifest
    database: str  # shown without password
    table_rows: dict[str, int]
    head_revision: str
    files_restored: int = 0
    files_in_place: int = 0
    files_missing: list[StoreFile] = field(default_factory=list)
    conflicts_kept: list[StoreFile] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def needs_upgrade(self) -> bool:
        return self.manifest.schema_revision != self.head_revision


@contextlib.contextmanager
def _connect(url: URL) -> Iterator[Connection]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _target(url: URL) -> contextlib.AbstractContextManager[Connection]:
    if url.get_backend_name() == "sqlite":
        return sqlite_db.connect_file(Path(url.database or ""), read_only=False)
    return _connect(url)


def _check_target(url: URL, shown: str, *, force: bool) -> None:
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise RestoreRefused("database.url: cannot restore into an in-memory SQLite database")
        if not Path(url.database).exists():
            return  # a new file: empty
    if force:
        return
    try:
        with _target(url) as conn:
            filled = tables_with_rows(conn)
    except BackupError:
        raise
    except Exception as exc:
        raise RestoreRefused(f"cannot open the database {shown}: {exc}") from None
    if filled:
        listed = ", ".join(f"{t} ({n})" for t, n in sorted(filled.items())[:6])
        more = f" and {len(filled) - 6} more table(s)" if len(filled) > 6 else ""
        raise RestoreRefused(
            f"the database {shown} is not empty: rows in {listed}{more}; a restore replaces "
            "everything in it, so it refuses unless --force is given; nothing was changed"
        )


def restore_backup(settings: Settings, path: Path, *, force: bool = False) -> RestoreResult:
    started = time.monotonic()
    verified = verify_backup(path)
    manifest = verified.manifest
    url = settings.database.sqlalchemy_url()
    shown = settings.database.display_url()
    kind = url.get_backend_name()
    if kind != manifest.database_kind:
        raise RestoreRefused(
            f"{path} holds a {manifest.database_kind} database but database.url is {kind} "
            f"({shown}); restore it into a {manifest.database_kind} database"
        )
    known = migrate.revisions()
    if manifest.schema_revision is not None and manifest.schema_revision not in known:
        raise RestoreRefused(
            f"{path} is at schema revision {manifest.schema_revision}, which this hotline does "
            f"not know (it knows {', '.join(known)}): restore it with hotline "
            f"{manifest.hotline_version} or newer"
        )
    _check_target(url, shown, force=force)
    store = RecordingStore(settings.recordings.store_dir)
    plan = plan_files(store, verified.store_files, has_audio=manifest.with_audio)
    if not force:
        refuse_conflicts(plan, store)

    db_file = path / manifest.database_file
    if kind == "sqlite":
        sqlite_db.restore(db_file, Path(url.database or ""))
    else:
        postgres_db.restore(url, db_file, settings.backup.pg_bin_dir)

    with _target(url) as conn:
        restored = count_rows(conn)
        rows = recording_rows(conn)
    _compare(manifest, restored, rows, verified.index, shown)

    replace = plan.conflicts if manifest.with_audio else []
    try:
        copied = restore_files(path, store, plan.copy + replace)
    except OSError as exc:
        raise BackupError(
            f"the database was restored, but putting recording files back into {store.root} "
            f"failed: {exc}; run the restore again with --force once that is fixed"
        ) from exc
    return RestoreResult(
        backup=path, manifest=manifest, database=shown, table_rows=restored,
        head_revision=known[-1], files_restored=copied, files_in_place=len(plan.in_place),
        files_missing=plan.missing,
        conflicts_kept=[] if manifest.with_audio else plan.conflicts,
        seconds=round(time.monotonic() - started, 3),
    )


def _compare(manifest: Manifest, restored: dict[str, int], rows: list[dict[str, Any]],
             index: list[dict[str, Any]], shown: str) -> None:
    """The restored database holds what the manifest says, or the restore is reported as
    failed (this would be a bug in the dump or restore tools, not a user error)."""
    wrong = {t: (restored.get(t), n) for t, n in manifest.table_rows.items()
             if restored.get(t) != n}
    if wrong:
        listed = ", ".join(f"{t}: {got} instead of {want}" for t, (got, want) in wrong.items())
        raise BackupError(f"the restored database {shown} does not match the backup: {listed}")

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["id"], r["storage_key"], r["sha256"])

    if [key(r) for r in rows] != [key(r) for r in index]:
        raise BackupError(
            f"the restored database {shown}: its recordings differ from the backup's index"
        )
