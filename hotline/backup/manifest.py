"""The manifest of one backup: what it holds, from which database, with every checksum.

``manifest.json`` lists the payload files with their size and SHA-256; ``manifest.json.sha256``
holds the SHA-256 of the manifest itself in ``sha256sum`` format, so the chain of checksums
starts from a file that ``sha256sum -c`` can check without hotline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hotline.backup.errors import CorruptBackup

FORMAT = "hotline-backup/1"
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.json.sha256"
CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileSum:
    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> FileSum:
        return cls(path.stat().st_size, sha256_file(path))


@dataclass
class Manifest:
    created_at: dt.datetime
    hotline_version: str
    database_kind: str  # "sqlite" | "postgresql"
    database_file: str
    schema_revision: str | None
    table_rows: dict[str, int]
    recordings_rows: int
    store_files: int
    with_audio: bool
    # Recording ids whose file was absent from the store, or differed from the row's SHA-256,
    # when the backup was made: the backup is complete, the store was not.
    missing_files: list[int] = field(default_factory=list)
    altered_files: list[int] = field(default_factory=list)
    files: dict[str, FileSum] = field(default_factory=dict)
    # Audio files hard-linked from the previous backup (unchanged) rather than copied again.
    audio_linked: int = 0
    seconds: float = 0.0
    format: str = FORMAT

    def to_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.astimezone(dt.UTC).isoformat()
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, origin: Path) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(text)
            if data.get("format") != FORMAT:
                raise CorruptBackup(
                    f"{origin}: format {data.get('format')!r} is not {FORMAT!r}; "
                    "this hotline cannot read that backup"
                )
            data["created_at"] = dt.datetime.fromisoformat(data["created_at"])
            data["files"] = {name: FileSum(**s) for name, s in data["files"].items()}
            return cls(**data)
        except CorruptBackup:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptBackup(f"{origin}: not a readable backup manifest ({exc})") from None

    @property
    def total_rows(self) -> int:
        return sum(self.table_rows.values())


def write_manifest(folder: Path, manifest: Manifest) -> None:
    text = manifest.to_json()
    write_synced(folder / MANIFEST, text.encode())
    digest = hashlib.sha256(text.encode()).hexdigest()
    write_synced(folder / MANIFEST_SUM, f"{digest}  {MANIFEST}\n".encode())


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the backup in ``folder``, after checking its own checksum."""
    path, sum_path = folder / MANIFEST, folder / MANIFEST_SUM
    if not folder.is_dir():
        raise CorruptBackup(f"{folder} is not a backup folder (it does not exist)")
    if not path.is_file():
        raise CorruptBackup(f"{folder} is not a complete backup: {MANIFEST} is missing")
    if not sum_path.is_file():
        raise CorruptBackup(f"{folder} is not a complete backup: {MANIFEST_SUM} is missing")
    raw = path.read_bytes()
    expected = sum_path.read_text(errors="replace").split(" ", 1)[0].strip()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise CorruptBackup(
            f"{path} has been altered or damaged: its SHA-256 is {actual}, "
            f"{MANIFEST_SUM} says {expected or '(nothing)'}"
        )
    return Manifest.from_json(raw.decode("utf-8", errors="replace"), path)


def check_file(folder: Path, name: str, expected: FileSum) -> None:
    """Raise :class:`CorruptBackup` naming the file unless it has the expected checksum."""
    path = folder / name
    if not path.is_file():
        raise CorruptBackup(f"{path} is missing from the backup")
    size = path.stat().st_size
    if size != expected.size:
        raise CorruptBackup(
            f"{path} is damaged: {size} bytes, the manifest says {expected.size}"
        )
    actual = sha256_file(path)
    if actual != expected.sha256:
        raise CorruptBackup(
            f"{path} is damaged: SHA-256 {actual}, the manifest says {expected.sha256}"
        )


def write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
