"""The recordings index of a backup: the ``recordings`` rows as data, the store's files with
their SHA-256, and (``--with-audio``) the files themselves.

Without the audio a backup still says which file each recording needs and what its content
must hash to, so a store kept elsewhere (or restored by other means) can be checked against
it; with the audio a restore can put missing files back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hotline.backup.errors import BackupError, CorruptBackup, RestoreRefused
from hotline.backup.manifest import CHUNK, sha256_file
from recordings.store import RecordingStore, UnsafeStorageKey

log = logging.getLogger(__name__)

INDEX = "recordings.jsonl"
STORE_FILES = "store-files.jsonl"
AUDIO = "audio"


@dataclass(frozen=True)
class StoreFile:
    key: str
    size: int
    sha256: str
    recording_id: int | None  # None: a file no recording row of the backup knows


@dataclass
class StoreSnapshot:
    files: list[StoreFile] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  # rows whose file was not there
    altered: list[int] = field(default_factory=list)  # rows whose file hashed differently
    linked: int = 0  # audio files linked from the previous backup instead of copied


def write_jsonl(path: Path, items: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError) as exc:
        raise CorruptBackup(f"{path} is not readable: {exc}") from None


def read_store_files(folder: Path) -> list[StoreFile]:
    return [StoreFile(**item) for item in read_jsonl(folder / STORE_FILES)]


def copy_hashed(source: Path, dest: Path, mode: int = 0o600) -> tuple[int, str]:
    """Copy ``source`` to ``dest`` through a temporary name, hashing what was read; returns
    (size, SHA-256). A reader never sees half a file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    digest, size = hashlib.sha256(), 0
    with source.open("rb") as src, partial.open("wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(partial, mode)
    os.replace(partial, dest)
    return size, digest.hexdigest()


def live_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose file should be in the store (purged recordings have none)."""
    return [r for r in rows if r.get("purged_at") is None]


def previous_audio(folder: Path | None) -> dict[str, tuple[Path, StoreFile]]:
    """The audio copies of an earlier backup, by key, to link instead of copying again."""
    if folder is None or not (folder / AUDIO).is_dir() or not (folder / STORE_FILES).is_file():
        return {}
    try:
        files = read_store_files(folder)
    except (CorruptBackup, TypeError):
        return {}
    return {f.key: (folder / AUDIO / f.key, f) for f in files if f.recording_id is not None}


def _link_or_copy(store_file: Path, sha256: str, dest: Path,
                  previous: dict[str, tuple[Path, StoreFile]], key: str) -> tuple[int, str, bool]:
    """Copy ``store_file`` into the backup, or hard-link the earlier backup's copy when the
    store file still hashes the same: kept recordings never change, so a daily backup with
    audio costs only the new files' space (rule 9.2's incremental backups, each one complete)."""
    earlier = previous.get(key)
    if earlier is not None:
        old_path, old = earlier
        size = store_file.stat().st_size
        if old.size == size and old.sha256 == sha256 and old_path.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(old_path, dest)
                return size, sha256, True
            except OSError:
                pass  # another file system, or links not allowed: copy
    size, digest = copy_hashed(store_file, dest)
    return size, digest, False


def snapshot_store(
    store: RecordingStore, rows: list[dict[str, Any]], folder: Path, *, with_audio: bool,
    previous: Path | None = None,
) -> StoreSnapshot:
    """Hash (and with audio, copy or link from ``previous``) the file of every live recording
    row, then every other file of the store; write ``store-files.jsonl``."""
    snap = StoreSnapshot()
    earlier = previous_audio(previous) if with_audio else {}
    indexed: set[str] = set()
    for row in live_rows(rows):
        key, rec_id = str(row["storage_key"]), int(row["id"])
        indexed.add(key)
        try:
            path = store.path(key)
        except UnsafeStorageKey:
            log.error("recording #%d has a storage key outside the store: %r", rec_id, key)
            snap.missing.append(rec_id)
            continue
        if not path.is_file():
            snap.missing.append(rec_id)
            continue
        if with_audio and key in earlier:
            digest = sha256_file(path)
            size, digest, linked = _link_or_copy(path, digest, folder / AUDIO / key, earlier, key)
            snap.linked += linked
        elif with_audio:
            size, digest = copy_hashed(path, folder / AUDIO / key)
        else:
            size, digest = path.stat().st_size, sha256_file(path)
        if digest != row.get("sha256"):
            snap.altered.append(rec_id)
        snap.files.append(StoreFile(key, size, digest, rec_id))
    for key in store.keys():
        if key in indexed:
            continue
        path = store.path(key)
        # Not in the index: stored after the database snapshot, or an orphan. Listed with its
        # checksum; its audio is not copied (the restored database would not know it). A file
        # removed since the listing (a purge, a staging file moved on) is simply not listed:
        # a backup must not fail because hotline went on working while it ran.
        try:
            size, digest = path.stat().st_size, sha256_file(path)
        except FileNotFoundError:
            continue
        snap.files.append(StoreFile(key, size, digest, None))
    write_jsonl(folder / STORE_FILES, (asdict(f) for f in snap.files))
    return snap


@dataclass
class FilePlan:
    copy: list[StoreFile] = field(default_factory=list)
    in_place: list[StoreFile] = field(default_factory=list)
    conflicts: list[StoreFile] = field(default_factory=list)  # present, different content
    missing: list[StoreFile] = field(default_factory=list)  # absent, no audio to restore


def check_audio(folder: Path, files: list[StoreFile]) -> None:
    """Every audio copy in the backup hashes to what the index says."""
    for f in files:
        if f.recording_id is None:
            continue
        path = folder / AUDIO / f.key
        if not path.is_file():
            raise CorruptBackup(f"{path} is missing from the backup (recording #{f.recording_id})")
        if path.stat().st_size != f.size or sha256_file(path) != f.sha256:
            raise CorruptBackup(
                f"{path} is damaged: its SHA-256 differs from {STORE_FILES} "
                f"(recording #{f.recording_id})"
            )


def plan_files(store: RecordingStore, files: list[StoreFile], *, has_audio: bool) -> FilePlan:
    plan = FilePlan()
    for f in files:
        if f.recording_id is None:
            continue
        try:
            path = store.path(f.key)
        except UnsafeStorageKey:
            raise CorruptBackup(f"{STORE_FILES}: key {f.key!r} leaves the recordings store") from None
        if path.is_file():
            same = path.stat().st_size == f.size and sha256_file(path) == f.sha256
            (plan.in_place if same else plan.conflicts).append(f)
        elif has_audio:
            plan.copy.append(f)
        else:
            plan.missing.append(f)
    return plan


def refuse_conflicts(plan: FilePlan, store: RecordingStore) -> None:
    if plan.conflicts:
        shown = ", ".join(f"{c.key} (recording #{c.recording_id})" for c in plan.conflicts[:5])
        more = f" and {len(plan.conflicts) - 5} more" if len(plan.conflicts) > 5 else ""
        raise RestoreRefused(
            f"{len(plan.conflicts)} file(s) in the recordings store {store.root} differ from "
            f"the backup: {shown}{more}; nothing was restored (--force replaces them with the "
            "backup's copies)"
        )


def restore_files(folder: Path, store: RecordingStore, files: list[StoreFile]) -> int:
    """Copy ``files`` from the backup's audio into the store (read-only, as the store keeps
    them); each copy is checked against the index while it is written."""
    for f in files:
        dest = store.path(f.key)
        size, digest = copy_hashed(folder / AUDIO / f.key, dest, mode=0o440)
        if digest != f.sha256 or size != f.size:
            dest.unlink(missing_ok=True)
            raise BackupError(f"{folder / AUDIO / f.key} changed while it was restored")
    return len(files)
