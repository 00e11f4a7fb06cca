"""Render the prompt catalogue into the sound files Asterisk plays.

Layout: ``<sounds_dir>/<language>/<name>.wav``, 8 kHz, 16-bit, mono PCM (what Asterisk plays
without transcoding; ``STREAM FILE`` is given the absolute path without ``.wav``), plus
``<sounds_dir>/manifest.json`` holding, per prompt, the hash of what it was made from (text,
voice and format, or the recorded file) and the SHA-256 of the audio. A build renders only
prompts whose source changed or whose file is missing or altered, so it is cheap to run at
every deploy.

A recording dropped at ``<overrides_dir>/<language>/<name>.<ext>`` (any format ffmpeg reads)
replaces the synthetic voice for that prompt. A file that cannot be decoded, or is silent, is
refused with its name, and the previously built sound (if any) is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.settings import HoursSettings, Settings
from ivr.prompts.catalogue import LANGUAGES, Catalogue

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SAMPLE_RATE = 8000
CHANNELS = 1
SAMPLE_WIDTH = 2
FORMAT_TAG = f"wav/{SAMPLE_RATE}Hz/{CHANNELS}ch/{SAMPLE_WIDTH * 8}bit"
ESPEAK = "espeak-ng"


class PromptAudioError(Exception):
    """A prompt whose audio cannot be made; the message names the file or prompt."""


def sound_file(sounds_dir: Path, language: str, name: str) -> Path:
    return sounds_dir / language / f"{name}.wav"


def stream_path(sounds_dir: Path, language: str, name: str) -> str:
    """What STREAM FILE / GET DATA take: the path without the extension. ``sounds_dir`` is
    made absolute once at start-up (no filesystem call here: this runs on every prompt)."""
    return str(sounds_dir / language / name)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_override(overrides_dir: Path, language: str, name: str) -> Path | None:
    folder = overrides_dir / language
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.glob(f"{name}.*") if p.is_file() and p.stem == name)
    if len(found) > 1:
        raise PromptAudioError(
            f"prompt {name!r} ({language}) has several recordings: "
            + ", ".join(str(p) for p in found)
            + " (keep one)"
        )
    return found[0] if found else None


@dataclass(frozen=True)
class PromptJob:
    language: str
    name: str
    text: str
    voice: str
    override: Path | None

    @property
    def key(self) -> str:
        return f"{self.language}/{self.name}"


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _load_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s): every prompt will be rebuilt", path, exc)
        return {}
    prompts = data.get("prompts") if isinstance(data, dict) else None
    return prompts if isinstance(prompts, dict) else {}


def _write_manifest(path: Path, entries: Mapping[str, Any]) -> None:
    body = {"format": FORMAT_TAG, "prompts": dict(sorted(entries.items()))}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _espeak(text: str, voice: str, out: Path) -> None:
    try:
        proc = subprocess.run(
            [ESPEAK, "-v", voice, "-w", str(out), "--stdin"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise PromptAudioError(f"{ESPEAK} is not installed (scripts/setup.sh installs it)") from None
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
        reason = proc.stderr.decode("utf-8", "replace").strip() or f"exit code {proc.returncode}"
        raise PromptAudioError(f"{ESPEAK} -v {voice} could not render the text: {reason}")


def _decode(path: Path, what: str) -> Any:
    from pydub import AudioSegment

    try:
        return AudioSegment.from_file(str(path))
    except Exception as exc:  # pydub raises CouldntDecodeError, IndexError, ... on bad input
        reason = str(exc).strip().splitlines()
        short = reason[-1] if reason else type(exc).__name__
        raise PromptAudioError(f"{what}: not an audio file ffmpeg can read ({short[:200]})") from None


def render(job: PromptJob, out: Path, silence_dbfs: float) -> dict[str, Any]:
    """Make one prompt's WAV at ``out``; returns its manifest entry."""
    with tempfile.TemporaryDirectory(prefix="hotline-prompt-") as tmp:
        if job.override is not None:
            what = str(job.override)
            audio = _decode(job.override, what)
        else:
            what = f"prompt {job.name!r} ({job.language}, {ESPEAK} -v {job.voice})"
            raw = Path(tmp) / "tts.wav"
            _espeak(job.text, job.voice, raw)
            audio = _decode(raw, what)
        if audio.duration_seconds < 0.05 or audio.max == 0 or audio.dBFS < silence_dbfs:
            level = "no sound at all" if audio.max == 0 else f"{audio.dBFS:.0f} dBFS"
            raise PromptAudioError(
                f"{what}: silent ({level}, {audio.duration_seconds:.2f} s); a prompt must be "
                f"louder than {silence_dbfs:.0f} dBFS"
            )
        audio = audio.set_channels(CHANNELS).set_frame_rate(SAMPLE_RATE).set_sample_width(SAMPLE_WIDTH)
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = out.with_suffix(".wav.tmp")
        audio.export(str(staged), format="wav")
        os.replace(staged, out)
    entry: dict[str, Any] = {
        "text": job.text,
        "text_sha256": _sha256_text(job.text),
        "voice": None if job.override else job.voice,
        "source": str(job.override) if job.override else ESPEAK,
        "source_sha256": _sha256_file(job.override) if job.override else None,
        "format": FORMAT_TAG,
        "audio_sha256": _sha256_file(out),
        "duration_ms": len(audio),
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    entry["key"] = _job_key(job, entry["source_sha256"])
    return entry


def _job_key(job: PromptJob, source_sha256: str | None) -> str:
    """What the prompt was made from: a change here means a rebuild."""
    if job.override is not None:
        return f"recorded:{source_sha256}:{FORMAT_TAG}"
    return f"tts:{_sha256_text(job.text)}:{job.voice}:{FORMAT_TAG}"


def _up_to_date(job: PromptJob, entry: Mapping[str, Any] | None, out: Path) -> bool:
    if not entry or not out.is_file():
        return False
    source_sha = _sha256_file(job.override) if job.override else None
    return entry.get("key") == _job_key(job, source_sha) and entry.get("audio_sha256") == _sha256_file(out)


def build_prompts(
    catalogue: Catalogue,
    *,
    sounds_dir: Path,
    overrides_dir: Path,
    hours: HoursSettings,
    voices: Mapping[str, str],
    silence_dbfs: float = -60.0,
    languages: Iterable[str] = LANGUAGES,
    only: Iterable[str] | None = None,
    force: bool = False,
    workers: int | None = None,
) -> BuildReport:
    """Render what changed; see the module docstring. Never raises for one bad prompt: its
    reason goes to ``report.errors`` and the other prompts are still built."""
    sounds_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = sounds_dir / MANIFEST
    manifest = _load_manifest(manifest_path)
    report = BuildReport()
    wanted = set(only) if only is not None else None
    if wanted is not None:
        unknown = sorted(wanted - set(catalogue.names()))
        report.errors += [f"prompt {n!r} is not in the catalogue {catalogue.file}" for n in unknown]
    jobs: list[PromptJob] = []
    for language in languages:
        for name in catalogue.names():
            if wanted is not None and name not in wanted:
                continue
            try:
                override = find_override(overrides_dir, language, name)
            except PromptAudioError as exc:
                report.errors.append(str(exc))
                continue
            text = catalogue.text(name, language, hours)
            job = PromptJob(language, name, text, voices[language], override)
            if not force and _up_to_date(job, manifest.get(job.key), sound_file(sounds_dir, language, name)):
                report.unchanged.append(job.key)
            else:
                jobs.append(job)

    def run(job: PromptJob) -> tuple[PromptJob, dict[str, Any] | None, str | None]:
        try:
            return job, render(job, sound_file(sounds_dir, job.language, job.name), silence_dbfs), None
        except PromptAudioError as exc:
            return job, None, str(exc)

    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        for job, entry, error in pool.map(run, jobs):
            if error is not None:
                report.errors.append(error)
            else:
                manifest[job.key] = entry
                report.built.append(job.key)

    if wanted is None:
        current = {f"{lang}/{name}" for lang in languages for name in catalogue.names()}
        for key in sorted(set(manifest) - current):
            language, _, name = key.partition("/")
            stale = sound_file(sounds_dir, language, name)
            stale.unlink(missing_ok=True)
            del manifest[key]
            report.removed.append(key)
    _write_manifest(manifest_path, manifest)
    return report


def build_configured_prompts(
    settings: Settings,
    catalogue: Catalogue,
    *,
    languages: Iterable[str] | None = None,
    only: Iterable[str] | None = None,
    force: bool = False,
) -> BuildReport:
    """:func:`build_prompts` with the folders, voices, hours and silence floor of
    ``settings`` (``hotline prompts build`` and ``hotline demo`` build the same way)."""
    ivr = settings.ivr
    return build_prompts(
        catalogue,
        sounds_dir=ivr.sounds_dir,
        overrides_dir=ivr.overrides_dir,
        hours=settings.hours,
        voices={lang: ivr.voice(lang) for lang in LANGUAGES},
        silence_dbfs=ivr.silence_dbfs,
        languages=languages or LANGUAGES,
        only=only,
        force=force,
    )


def missing_sounds(sounds_dir: Path, language: str, names: Iterable[str]) -> list[str]:
    """Prompts among ``names`` that have no built sound file."""
    return [n for n in names if not sound_file(sounds_dir, language, n).is_file()]
