"""The recordings store: files reached by a storage key, never by a path from outside.

A storage key is relative (``2026/11/23/4711/pbx1-1700000000.12-1700000000.12.wav``). Every
key is resolved here and refused when it would leave the store (``..``, an absolute path, a
symlink pointing out), even when it comes from our own database: a tampered row must not
turn a download into a read of ``/etc/shadow``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
from pathlib import Path, PurePosixPath

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
CHUNK = 1 << 20


class UnsafeStorageKey(ValueError):
    """A storage key that would reach outside the store."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def safe_file_name(name: str) -> str:
    """``name`` reduced to letters, digits, ``._-``: what lands in the store is ours."""
    cleaned = _SAFE_NAME.sub("_", Path(name).name).lstrip(".")
    return cleaned or "recording.wav"


class RecordingStore:
    """Files of kept recordings, laid out as ``YYYY/MM/DD/<call id>/<file>``.

    The date is the local date (the hotline's zone, Asia/Shanghai by default) on which the
    call was answered: the day staff would look a call up by.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @staticmethod
    def key_for(call_id: int, local_day: dt.date, file_name: str) -> str:
        return f"{local_day:%Y/%m/%d}/{call_id}/{safe_file_name(file_name)}"

    def path(self, key: str) -> Path:
        """The file of ``key`` inside the store, or :class:`UnsafeStorageKey`."""
        if not key or "\x00" in key or "\\" in key:
            raise UnsafeStorageKey(f"storage key {key!r} is not a relative store key")
        pure = PurePosixPath(key)
        if pure.is_absolute() or any(part in ("..", "") for part in key.split("/")):
            raise UnsafeStorageKey(f"storage key {key!r} leaves the recordings store")
        candidate = (self.root / pure).resolve()
        if not candidate.is_relative_to(self.root):
            raise UnsafeStorageKey(f"storage key {key!r} leaves the recordings store")
        return candidate

    def put(self, source: Path, key: str) -> Path:
        """Copy ``source`` into the store under ``key`` atomically (a reader never sees half a
        file); the source is left for the caller to remove once the row is committed."""
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.partial")
        try:
            os.link(source, partial)  # same file system: no copy at all
        except OSError:
            with source.open("rb") as src, partial.open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
        os.chmod(partial, 0o440)
        os.replace(partial, dest)
        return dest

    def remove(self, key: str) -> bool:
        """Delete the file of ``key``; False when it was already gone."""
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        for parent in path.parents:  # tidy empty day / call folders, never the root
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break
        return True

    def keys(self) -> list[str]:
        """Every file in the store, as keys (to find files no row knows about)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.endswith(".partial")
        )
