"""Reading recordings: duration with pydub (what the row keeps), and a format check."""

from __future__ import annotations

import warnings
from pathlib import Path

with warnings.catch_warnings():
    # pydub imports audioop, deprecated since Python 3.11; it is still there in 3.11 and 3.12.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pydub import AudioSegment


class UnreadableRecording(ValueError):
    """A spool file that is not audio pydub/ffmpeg can read."""


def duration_seconds(path: Path) -> float:
    """Length of the recording in seconds, read with pydub (ffmpeg for anything but WAV)."""
    try:
        segment = AudioSegment.from_file(path, format=path.suffix.lstrip(".") or None)
    except Exception as exc:  # pydub raises CouldntDecodeError, IndexError, wave errors...
        raise UnreadableRecording(f"{path.name}: not readable audio ({exc})") from None
    return round(float(segment.duration_seconds), 3)
