"""Transcode throughput of a one-hour call recording: hotline's playable-copy path against
calling the ffmpeg command line directly, in the same run.

    .venv/bin/python bench/bench_recordings.py [--minutes 60] [--runs 3]

Makes a MixMonitor-like WAV (8 kHz, 16-bit, mono; speech-like tone bursts) in a temporary
directory, then for MP3 and Opus times, best of ``--runs``:
  * ffmpeg CLI: ``ffmpeg -i in.wav -c:a ... out`` run directly (the baseline);
  * hotline: ``TranscodeCache.get`` with an empty cache (ffmpeg plus hotline's temp-file,
    rename and cache bookkeeping): what the first listen of a recording costs;
  * pydub export: ``AudioSegment.from_wav(...).export(...)``, for comparison (the obvious
    pydub way, which loads the whole hour into memory and writes it again for ffmpeg).
Prints seconds, audio-seconds per wall-second, and the ratio to the CLI baseline.
"""

from __future__ import annotations

import argparse
import math
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recordings.audio import AudioSegment  # noqa: E402
from recordings.store import sha256_of  # noqa: E402
from recordings.transcode import (  # noqa: E402
    CODECS,
    PlaybackFormat,
    TranscodeCache,
    ffmpeg_command,
)

RATE = 8000


def make_wav(path: Path, minutes: float) -> None:
    """A speech-like signal: 3 s of varying tone, 1 s of near silence, repeated."""
    block = bytearray()
    for n in range(4 * RATE):
        t = n / RATE
        amp = 6000 if t < 3 else 40
        f = 300 + 200 * math.sin(2 * math.pi * 0.5 * t)
        block += struct.pack("<h", int(amp * math.sin(2 * math.pi * f * t)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        for _ in range(int(minutes * 60 / 4)):
            w.writeframes(bytes(block))


def best_of(runs: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-rec-") as tmp:
        work = Path(tmp)
        src = work / "call.wav"
        make_wav(src, args.minutes)
        audio_s = args.minutes * 60
        sha = sha256_of(src)
        print(f"input: {src.stat().st_size / 1e6:.1f} MB, {audio_s:.0f} s of 8 kHz mono PCM; "
              f"best of {args.runs} runs")
        print(f"{'format':6} {'method':14} {'seconds':>8} {'x realtime':>11} {'ratio':>7}")
        for fmt in PlaybackFormat:
            def cli(fmt: PlaybackFormat = fmt) -> None:
                out = work / f"cli.{fmt.value}"
                subprocess.run(ffmpeg_command(src, out, fmt), check=True)

            def hotline(fmt: PlaybackFormat = fmt) -> None:
                cache_dir = work / "cache"
                shutil.rmtree(cache_dir, ignore_errors=True)
                TranscodeCache(cache_dir, 1 << 34).get(src, sha, fmt)

            def pydub_export(fmt: PlaybackFormat = fmt) -> None:
                codec = CODECS[fmt].args
                AudioSegment.from_wav(src).export(
                    work / f"pydub.{fmt.value}", format=codec[codec.index("-f") + 1],
                    codec=codec[1], bitrate=codec[3],
                )

            base = best_of(args.runs, cli)
            for name, fn in (("ffmpeg CLI", cli), ("hotline", hotline),
                             ("pydub export", pydub_export)):
                secs = base if name == "ffmpeg CLI" else best_of(args.runs, fn)
                print(f"{fmt.value:6} {name:14} {secs:8.2f} {audio_s / secs:11.0f} "
                      f"{secs / base:7.2f}")


if __name__ == "__main__":
    main()
