"""Where backups live: one folder per backup under ``backup.dir``, named by its UTC time.

A backup is written into ``.hotline-<time>.partial`` and renamed to ``hotline-<time>`` only
once every file and the manifest are on disk, so a crash never leaves something that looks
like a complete backup. One lock file per backup folder lets only one backup (the daily job,
or ``hotline backup`` by hand) write or prune at a time. Nothing else in the folder is
touched: it may be a share that holds other things.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hotline.backup.errors import BackupError
from hotline.backup.manifest import MANIFEST, MANIFEST_SUM

PREFIX = "hotline-"
LOCK_NAME = ".hotline-backup.lock"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^hotline-(\d{8}T\d{6}Z)(?:-(\d+))?$")
_PARTIAL = re.compile(r"^\.hotline-\d{8}T\d{6}Z(?:-\d+)?\.partial$")


@dataclass(frozen=True)
class BackupFolder:
    path: Path
    taken_at: dt.datetime  # from the name: UTC, to the second

    @property
    def name(self) -> str:
        return self.path.name


def parse_name(name: str) -> dt.datetime | None:
    m = _NAME.match(name)
    if not m:
        return None
    return dt.datetime.strptime(m[1], _STAMP).replace(tzinfo=dt.UTC)


def new_name(root: Path, now: dt.datetime) -> str:
    """``hotline-20261123T183000Z``, with ``-2``, ``-3``... for a second one in the same second."""
    base = PREFIX + now.astimezone(dt.UTC).strftime(_STAMP)
    name, n = base, 1
    while (root / name).exists() or (root / f".{name}.partial").exists():
        n += 1
        name = f"{base}-{n}"
    return name


def list_backups(root: Path) -> list[BackupFolder]:
    """Complete backups under ``root`` (a manifest and its checksum present), oldest first."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        taken = parse_name(child.name)
        if taken is None or not child.is_dir():
            continue
        if (child / MANIFEST).is_file() and (child / MANIFEST_SUM).is_file():
            found.append(BackupFolder(child, taken))
    return sorted(found, key=lambda b: (b.taken_at, _suffix(b.name)))


def _suffix(name: str) -> int:
    m = _NAME.match(name)
    return int(m[2]) if m and m[2] else 1


def resolve(root: Path, given: str) -> Path:
    """A backup named on the command line: a path, a folder name under ``root``, or
    ``latest``."""
    if given == "latest":
        backups = list_backups(root)
        if not backups:
            raise BackupError(f"no complete backup in {root}")
        return backups[-1].path
    path = Path(given)
    if path.exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    return root / given


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold the backup folder's lock, or fail at once if another backup holds it."""
    lock_path = root / LOCK_NAME
    try:
        root.mkdir(parents=True, exist_ok=True)
        fh = lock_path.open("a+b")
    except OSError as exc:
        raise BackupError(f"backup.dir {root} cannot be used: {exc}") from None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"another backup is being written to {root} (lock {lock_path} is held); "
                "try again when it has finished"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def prune(root: Path, *, keep_days: int, now: dt.datetime) -> list[str]:
    """Delete complete backups taken ``keep_days`` or more before ``now`` (never the newest)
    and partial folders of interrupted runs; the caller holds :func:`locked`. Returns the
    names deleted."""
    deleted: list[str] = []
    backups = list_backups(root)
    cutoff = now - dt.timedelta(days=keep_days)
    for backup in backups[:-1]:
        if backup.taken_at <= cutoff:
            shutil.rmtree(backup.path)
            deleted.append(backup.name)
    for child in root.iterdir():
        if _PARTIAL.match(child.name) and child.is_dir():
            shutil.rmtree(child)  # under the lock, no backup is being written into it
            deleted.append(child.name)
    return deleted
