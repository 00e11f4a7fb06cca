"""SQLite: the online backup API, consistent while hotline keeps writing.

``Connection.backup`` with all pages in one step copies the database inside one read
transaction; in WAL mode (hotline's) that transaction sees one committed state and never
blocks the bridge's writers. The copy is switched to rollback-journal mode so that it is one
self-contained file.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, create_engine

from hotline.backup.errors import BackupError, RestoreRefused
from hotline.backup.snapshot import SnapshotFacts, read_facts

FILE_NAME = "database.sqlite3"


@contextlib.contextmanager
def connect_file(path: Path, *, read_only: bool) -> Iterator[Connection]:
    """A SQLAlchemy connection to a database file without hotline's engine set-up (no WAL
    switch, no file created when it is missing)."""
    mode = "ro" if read_only else "rw"
    engine = create_engine(f"sqlite:///file:{path}?mode={mode}&uri=true")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def dump(source: Path, dest: Path) -> SnapshotFacts:
    if not source.is_file():
        raise BackupError(f"database.url: the SQLite database {source} does not exist")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")
        problems = [row[0] for row in dst.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise BackupError(
                f"the database {source} failed SQLite's quick_check: {'; '.join(problems[:5])}"
            )
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy the SQLite database {source}: {exc}") from exc
    finally:
        dst.close()
        src.close()
    with connect_file(dest, read_only=True) as conn:
        return read_facts(conn)


def restore(backup_file: Path, target: Path) -> None:
    """Replace ``target``'s content with the backup's, in one write transaction."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=10)
    try:
        try:
            # Out of WAL first: copying into a WAL database needs equal page sizes, and the
            # switch fails at once (rather than half-way) if hotline still has it open.
            dst.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError as exc:
            raise RestoreRefused(
                f"the database {target} is in use ({exc}): stop hotline before restoring"
            ) from None
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise BackupError(f"restoring into {target} failed: {exc}") from exc
    finally:
        dst.close()
        src.close()
