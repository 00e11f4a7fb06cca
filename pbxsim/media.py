"""Sound files and recordings: how long a prompt plays, and real WAV files for recordings.

The simulator carries no RTP. A prompt "plays" for the duration of its WAV file; a recording
(MixMonitor, RECORD FILE) is written as an 8 kHz, 16-bit mono PCM WAV (44-byte header) whose
length is the recorded (simulated) time: a 400 Hz tone where someone is heard, zeros where the
recording is muted or nobody speaks. As in Asterisk (app_mixmonitor opens its file when its
thread starts, before any audio), a MixMonitor file exists from the start: a header with no
audio, which the simulator fills in one go when the recording stops. It does not grow (nor
its mtime change) during the call, as Asterisk's would.
"""

from __future__ import annotations

import array
import asyncio
import logging
import math
import os
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pbxsim.ami.wire import Headers

if TYPE_CHECKING:
    from pbxsim.channel import Channel

log = logging.getLogger(__name__)

RATE = 8000
_PERIOD = array.array("h", (int(4000 * math.sin(2 * math.pi * k / 20)) for k in range(20)))


class Sounds:
    """Finds a sound file the way Asterisk does and tells how long it plays."""

    def __init__(self, sounds_dir: Path | None, durations: dict[str, float] | None = None) -> None:
        self.sounds_dir = sounds_dir
        self.durations = dict(durations or {})
        self._cache: dict[str, float | None] = {}

    def path_for(self, name: str, language: str = "en") -> Path | None:
        name = name.strip()
        candidates: list[Path] = []
        if os.path.isabs(name):
            candidates += [Path(name + ".wav"), Path(name)]
        elif self.sounds_dir is not None:
            for base in (self.sounds_dir / language, self.sounds_dir):
                candidates += [base / (name + ".wav"), base / name]
        for cand in candidates:
            if cand.is_file() and (cand.suffix.lower() == ".wav"):
                return cand
        return None

    def duration(self, name: str, language: str = "en") -> float | None:
        """Seconds the sound plays, or None when there is no such file."""
        if name in self.durations:
            return self.durations[name]
        key = f"{language}:{name}"
        if key in self._cache:
            return self._cache[key]
        path = self.path_for(name, language)
        value: float | None = None
        if path is not None:
            try:
                with wave.open(str(path), "rb") as wav:
                    value = wav.getnframes() / float(wav.getframerate() or RATE)
            except (wave.Error, EOFError, OSError):
                value = None
        self._cache[key] = value
        return value


def _samples(segments: list[tuple[float, bool]]) -> bytes:
    out = array.array("h")
    for seconds, audible in segments:
        count = int(round(seconds * RATE))
        if count <= 0:
            continue
        if audible:
            reps, rest = divmod(count, len(_PERIOD))
            out.extend(_PERIOD * reps)
            out.extend(_PERIOD[:rest])
        else:
            out.extend(array.array("h", bytes(2 * count)))
    return out.tobytes()


def write_wav(path: Path, segments: list[tuple[float, bool]]) -> int:
    """Write the WAV; returns the number of samples. Runs in a worker thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _samples(segments)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(data)
    return len(data) // 2


@dataclass
class MixMonitor:
    """One MixMonitor on a channel. Only bridged time counts with option ``b``."""

    chan: Channel
    path: Path
    options: str
    started: float
    events: list[tuple[float, bool, bool]] = field(default_factory=list)  # (t, bridged, muted)
    muted: bool = False
    done: bool = False

    def __post_init__(self) -> None:
        self.events.append((self.started, self.chan.bridge is not None, False))

    @property
    def bridged_only(self) -> bool:
        return "b" in self.options

    def _mark(self) -> None:
        self.events.append((self.chan.pbx.clock.now(), self.chan.bridge is not None, self.muted))

    def bridge_changed(self) -> None:
        self._mark()

    def mute(self, on: bool) -> None:
        self.muted = on
        self._mark()

    def segments(self, end: float) -> list[tuple[float, bool]]:
        segs: list[tuple[float, bool]] = []
        for (t, bridged, muted), nxt in zip(self.events, [*self.events[1:], (end, False, False)], strict=True):
            span = nxt[0] - t
            if span <= 0 or (self.bridged_only and not bridged):
                continue
            segs.append((span, not muted))
        return segs

    def finish(self, *, publish_stop: bool) -> None:
        if self.done:
            return
        self.done = True
        chan = self.chan
        if chan.mixmonitor is self:
            chan.mixmonitor = None
        if publish_stop:
            chan.event("MixMonitorStop", "call")
        segs = self.segments(chan.pbx.clock.now())
        seconds = sum(s for s, _ in segs)
        task = chan.pbx.spawn(asyncio.to_thread(write_wav, self.path, segs), name=f"wav {self.path.name}")
        chan.pbx.sim.pending_writes.add(task)
        task.add_done_callback(chan.pbx.sim.pending_writes.discard)
        if chan.call is not None:
            chan.call.on_recording(str(self.path), seconds)

    def channel_gone(self, chan: Channel) -> None:
        # Asterisk publishes no MixMonitorStop when the channel hangs up while recording.
        self.finish(publish_stop=False)


def start_mixmonitor(chan: Channel, filename: str, options: str) -> MixMonitor:
    path = Path(filename)
    if not path.is_absolute():
        path = chan.pbx.config.record_dir / path
    if chan.mixmonitor is not None:
        chan.mixmonitor.finish(publish_stop=False)
    mon = MixMonitor(chan, path, options, chan.pbx.clock.now())
    try:
        write_wav(path, [])  # the header only, as Asterisk opens the file at once (44 bytes)
    except OSError as exc:
        log.warning("%s: MixMonitor cannot open %s for writing: %s", chan.name, path, exc)
    chan.mixmonitor = mon
    chan.set_var("MIXMONITOR_FILENAME", str(path))
    chan.event("MixMonitorStart", "call")
    return mon


def mute_fields(direction: str, state: str) -> Headers:
    return [("Direction", direction), ("State", state)]
