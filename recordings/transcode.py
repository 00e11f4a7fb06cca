"""Browser-playable copies (MP3, Opus) of stored WAVs, made on demand and cached.

The cache key is the recording's SHA-256 plus the format, so a copy is made once per
recording and never served for a file whose content changed. ffmpeg reads the stored file and
writes the copy directly (streaming, in constant memory even for an hour-long call); pydub is
used only to find the ffmpeg it is configured with. Copies are written under a temporary name
and renamed, so a reader never gets half a file, and the cache is trimmed oldest-first to its
size limit.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from recordings.audio import AudioSegment  # noqa: F401  (pydub configured once, warnings muted)

log = logging.getLogger(__name__)


class PlaybackFormat(StrEnum):
    MP3 = "mp3"
    OPUS = "opus"


@dataclass(frozen=True)
class _Codec:
    media_type: str
    args: tuple[str, ...]


# 8 kHz mono speech: 32 kbit/s MP3 and 24 kbit/s Opus are transparent enough and small.
CODECS = {
    PlaybackFormat.MP3: _Codec("audio/mpeg", ("-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3")),
    PlaybackFormat.OPUS: _Codec("audio/ogg", ("-c:a", "libopus", "-b:a", "24k", "-f", "ogg")),
}


class TranscodeError(RuntimeError):
    """ffmpeg could not make the copy; the message carries its last error line."""


def ffmpeg_binary() -> str:
    from pydub.utils import get_encoder_name

    return str(get_encoder_name())


def ffmpeg_command(source: Path, dest: Path, fmt: PlaybackFormat) -> list[str]:
    return [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-i", str(source), "-vn", "-ac", "1", *CODECS[fmt].args, str(dest),
    ]


def transcode(source: Path, dest: Path, fmt: PlaybackFormat) -> None:
    """Write ``source`` as ``fmt`` to ``dest`` (no cache), raising :class:`TranscodeError`."""
    proc = subprocess.run(ffmpeg_command(source, dest, fmt), capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise TranscodeError(f"ffmpeg failed on {source.name} ({fmt}): {last}")


class TranscodeCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def path_for(self, sha256: str, fmt: PlaybackFormat) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.root / f"{sha256}.{fmt.value}"

    def get(self, source: Path, sha256: str, fmt: PlaybackFormat) -> Path:
        """The cached copy of ``source`` as ``fmt``, made now if missing (one maker per key)."""
        dest = self.path_for(sha256, fmt)
        if dest.is_file():
            os.utime(dest)  # recently used: trimmed last
            return dest
        with self._lock(dest.name):
            if dest.is_file():
                return dest
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex}.tmp")
            try:
                transcode(source, tmp, fmt)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        self.trim(keep=dest)
        return dest

    def drop(self, sha256: str) -> None:
        """Forget every copy of a recording (it was purged)."""
        for fmt in PlaybackFormat:
            self.path_for(sha256, fmt).unlink(missing_ok=True)

    def trim(self, keep: Path | None = None) -> None:
        if not self.root.is_dir():
            return
        files = [p for p in self.root.iterdir() if p.is_file() and not p.name.startswith(".")]
        total = sum(p.stat().st_size for p in files)
        for p in sorted(files, key=lambda f: f.stat().st_mtime):
            if total <= self.max_bytes:
                break
            if p == keep:
                continue
            size = p.stat().st_size
            p.unlink(missing_ok=True)
            total -= size
            log.info("transcode cache over %d bytes: dropped %s", self.max_bytes, p.name)
