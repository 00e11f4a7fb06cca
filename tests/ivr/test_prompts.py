"""The prompt catalogue (scripts S1-S16 word for word) and ``hotline prompts build``: real
espeak-ng, ffmpeg and pydub; incremental through the manifest; recordings in place of the
synthetic voice; corrupt and silent files refused by name."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from pydub import AudioSegment
from pydub.generators import Sine

from hotline.settings import HoursSettings, Settings
from ivr.prompts.build import BuildReport, build_prompts, sound_file
from ivr.prompts.catalogue import Catalogue, load_catalogue
from tests.ivr.conftest import REPO

HOTLINE = Path(sys.executable).with_name("hotline")
SETTINGS = Settings()
VOICES = {"zh-CN": SETTINGS.ivr.voice_zh, "en": SETTINGS.ivr.voice_en}

# Service rules section 2, simplified Chinese (shared/requirements/service-rules.md).
SCRIPTS = {
    "S1": ["您好!请问有什么可以帮到您?"],
    "S2": ["对不起,我听不到你的声音,你换一部电话再打过来,好吗?我现在挂机了。"],
    "S3": ["很抱歉让您久等了"],
    "S4": ["对不起,请稍等", "对不起,您能让我先帮您查一下嘛?"],
    "S5": ["没关系!还有什么需要我帮助吗?"],
    "S6": ["对不起,我们必须保护用户的利益,不能泄漏客户的个人信息。"],
    "S7": ["为了尽快为您解决这个问题,我可以向您提几个小问题吗?"],
    "S8": ["对不起,给您造成不便,敬请原谅。"],
    "S9": ["对不起,我非常理解您的心情,但是为了帮您解决问题,请您慢慢说好吗?我会尽全力帮您解决的。"],
    "S10": ["您的建议很重要,我会及时转递给相关部门,谢谢您的支持!"],
    "S11": ["对不起,请问您的意思是……吗?", "您是说……,对吗?"],
    "S12": ["对不起,我没听清您的讲话,请您重复一遍,好吗?谢谢!"],
    "S13": ["请问还有什么需要查询吗?"],
    "S14": ["对不起,请问您还有其它业务需要帮助吗?如没有,请挂机,把线路让给其它的客户,好吗?"],
    "S15": ["对不起,先生/小姐,请您使用文明用语,否则很抱歉,我们将结束这次通话。"],
    "S16": ["谢谢您的电话,再见!"],
}


def test_catalogue_has_every_script_word_for_word(catalogue: Catalogue) -> None:
    by_script = catalogue.by_script()
    assert set(by_script) == set(SCRIPTS)
    for script, texts in SCRIPTS.items():
        assert sorted(catalogue.prompts[n].zh_cn for n in by_script[script]) == sorted(texts), script
        assert all(catalogue.prompts[n].en for n in by_script[script])
    assert catalogue.prompts["greeting"].script == "S1"
    assert catalogue.prompts["silence"].script == "S2"


def test_catalogue_has_the_ivr_texts(catalogue: Catalogue) -> None:
    for name in ("main_menu", "menu_invalid", "hours_notice", "callback_offer", "after_hours_callback_offer",
                 "callback_confirm", "please_wait", "extortion_notice", "closing"):
        assert name in catalogue
    hours = HoursSettings(open="09:00", close="18:30", rest_start=None, rest_end=None)
    assert catalogue.text("hours_notice", "zh-CN", hours).endswith("工作日9点至18点30分。")
    assert "9:00 to 18:30" in catalogue.text("hours_notice", "en", hours)
    assert "8点至12点、14点至20点" in catalogue.text("hours_notice", "zh-CN", HoursSettings())


def test_bad_catalogue_is_refused_with_line(tmp_path: Path) -> None:
    from ivr.yamldoc import InvalidFileError

    path = tmp_path / "prompts.yaml"
    path.write_text("prompts:\n  hello:\n    zh-CN: 你好\n  Bad-Name:\n    zh-CN: x\n    en: y\n  notice:\n    zh-CN: '{hour}'\n    en: x\n")
    with pytest.raises(InvalidFileError) as info:
        load_catalogue(path, "prompts.yaml")
    text = str(info.value)
    assert "prompts.yaml:2: prompt 'hello': missing 'en'" in text
    assert "prompts.yaml:4: prompt 'Bad-Name'" in text
    assert "prompts.yaml:8: prompt 'notice': zh-CN: unknown placeholder {hour}" in text


def test_mandarin_voice_speaks_mandarin(catalogue: Catalogue) -> None:
    """espeak-ng switches to English ("(en)") for text its voice cannot read; the configured
    zh-CN voice must read the greeting as Mandarin syllables with tones."""
    out = subprocess.run(
        ["espeak-ng", "-v", VOICES["zh-CN"], "-q", "-x", catalogue.prompts["greeting"].zh_cn],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "(en)" not in out
    assert "n'i35n" in out  # 您 nín, second tone


# -- building ---------------------------------------------------------------------------------------

SMALL = ["greeting", "silence", "hours_notice"]


def build(catalogue: Catalogue, tmp_path: Path, hours: HoursSettings | None = None, **kw: object) -> BuildReport:
    return build_prompts(
        catalogue, sounds_dir=tmp_path / "sounds", overrides_dir=tmp_path / "recorded",
        hours=hours or HoursSettings(), voices=VOICES, **kw,  # type: ignore[arg-type]
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((tmp_path / "sounds" / "manifest.json").read_text())["prompts"]


def asterisk_format(path: Path) -> tuple[int, int, int]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth()


def test_build_renders_asterisk_wavs_with_a_manifest(catalogue: Catalogue, tmp_path: Path) -> None:
    report = build(catalogue, tmp_path, only=SMALL)
    assert report.ok and sorted(report.built) == sorted(f"{lang}/{n}" for lang in ("zh-CN", "en") for n in SMALL)
    entries = manifest(tmp_path)
    for lang in ("zh-CN", "en"):
        for name in SMALL:
            path = sound_file(tmp_path / "sounds", lang, name)
            assert asterisk_format(path) == (8000, 1, 2)
            entry = entries[f"{lang}/{name}"]
            assert entry["audio_sha256"] == sha(path)
            assert entry["text_sha256"] == hashlib.sha256(entry["text"].encode()).hexdigest()
            assert entry["duration_ms"] > 500
    assert entries["zh-CN/greeting"]["text"] == "您好!请问有什么可以帮到您?"
    assert entries["zh-CN/greeting"]["voice"] == VOICES["zh-CN"]


def test_second_build_renders_nothing_and_changes_rebuild_only_what_changed(catalogue: Catalogue, tmp_path: Path) -> None:
    build(catalogue, tmp_path, only=SMALL)
    sounds = tmp_path / "sounds"
    stamps = {p: p.stat().st_mtime_ns for p in sounds.rglob("*.wav")}

    again = build(catalogue, tmp_path, only=SMALL)
    assert again.built == [] and len(again.unchanged) == 6
    assert {p: p.stat().st_mtime_ns for p in sounds.rglob("*.wav")} == stamps

    # new business hours change the text of the hours notice only
    later = HoursSettings(open="09:00", close="18:00", rest_start=None, rest_end=None)
    changed = build(catalogue, tmp_path, hours=later, only=SMALL)
    assert sorted(changed.built) == ["en/hours_notice", "zh-CN/hours_notice"]
    assert "9点至18点" in manifest(tmp_path)["zh-CN/hours_notice"]["text"]

    # an altered sound file no longer matches its checksum: rebuilt
    greeting = sound_file(sounds, "zh-CN", "greeting")
    greeting.write_bytes(greeting.read_bytes()[:1000])
    repaired = build(catalogue, tmp_path, hours=later, only=SMALL)
    assert repaired.built == ["zh-CN/greeting"]
    assert manifest(tmp_path)["zh-CN/greeting"]["audio_sha256"] == sha(greeting)


def _record(path: Path, fmt: str, seconds: float = 1.2, volume: float = -12.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = Sine(440, sample_rate=44100).to_audio_segment(duration=int(seconds * 1000), volume=volume)
    tone.set_channels(2).export(str(path), format=fmt)


def test_recording_replaces_the_synthetic_voice(catalogue: Catalogue, tmp_path: Path) -> None:
    build(catalogue, tmp_path, only=SMALL)
    recording = tmp_path / "recorded" / "zh-CN" / "greeting.mp3"
    _record(recording, "mp3")

    report = build(catalogue, tmp_path, only=SMALL)
    assert report.built == ["zh-CN/greeting"]
    out = sound_file(tmp_path / "sounds", "zh-CN", "greeting")
    assert asterisk_format(out) == (8000, 1, 2)
    entry = manifest(tmp_path)["zh-CN/greeting"]
    assert entry["source"] == str(recording) and entry["source_sha256"] == sha(recording)
    assert 1100 < entry["duration_ms"] < 1400
    assert build(catalogue, tmp_path, only=SMALL).built == []

    # a new take of the recording is picked up; removing it brings the voice back
    _record(recording, "mp3", seconds=2.0)
    assert build(catalogue, tmp_path, only=SMALL).built == ["zh-CN/greeting"]
    recording.unlink()
    assert build(catalogue, tmp_path, only=SMALL).built == ["zh-CN/greeting"]
    assert manifest(tmp_path)["zh-CN/greeting"]["source"] == "espeak-ng"


def test_corrupt_recording_is_refused_by_name_and_old_sound_kept(catalogue: Catalogue, tmp_path: Path) -> None:
    build(catalogue, tmp_path, only=SMALL)
    before = sha(sound_file(tmp_path / "sounds", "zh-CN", "silence"))
    bad = tmp_path / "recorded" / "zh-CN" / "silence.wav"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + os.urandom(200))

    report = build(catalogue, tmp_path, only=SMALL)
    assert not report.ok
    assert len(report.errors) == 1
    assert report.errors[0].startswith(f"{bad}: not an audio file ffmpeg can read (")
    assert sha(sound_file(tmp_path / "sounds", "zh-CN", "silence")) == before
    assert manifest(tmp_path)["zh-CN/silence"]["source"] == "espeak-ng"


def test_silent_recording_is_refused_by_name(catalogue: Catalogue, tmp_path: Path) -> None:
    quiet = tmp_path / "recorded" / "en" / "greeting.wav"
    quiet.parent.mkdir(parents=True)
    AudioSegment.silent(duration=1500, frame_rate=16000).export(str(quiet), format="wav")
    report = build(catalogue, tmp_path, only=SMALL)
    assert len(report.errors) == 1
    assert report.errors[0].startswith(f"{quiet}: silent (no sound at all, 1.50 s)")
    assert not sound_file(tmp_path / "sounds", "en", "greeting").exists()
    assert "en/silence" in report.built


def test_two_recordings_for_one_prompt_are_refused(catalogue: Catalogue, tmp_path: Path) -> None:
    _record(tmp_path / "recorded" / "zh-CN" / "greeting.wav", "wav")
    _record(tmp_path / "recorded" / "zh-CN" / "greeting.mp3", "mp3")
    report = build(catalogue, tmp_path, only=["greeting"])
    assert report.errors == [
        f"prompt 'greeting' (zh-CN) has several recordings: {tmp_path}/recorded/zh-CN/greeting.mp3, "
        f"{tmp_path}/recorded/zh-CN/greeting.wav (keep one)"
    ]


def test_prompts_removed_from_the_catalogue_are_pruned(catalogue: Catalogue, tmp_path: Path) -> None:
    small = Catalogue("x", {n: catalogue.prompts[n] for n in SMALL})
    build(small, tmp_path)
    smaller = Catalogue("x", {n: catalogue.prompts[n] for n in SMALL[:2]})
    report = build(smaller, tmp_path)
    assert sorted(report.removed) == ["en/hours_notice", "zh-CN/hours_notice"]
    assert not sound_file(tmp_path / "sounds", "zh-CN", "hours_notice").exists()
    assert "zh-CN/hours_notice" not in manifest(tmp_path)


def test_prompts_build_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_IVR__PROMPTS_FILE"] = str(REPO / "callflows" / "prompts.yaml")
    env["HOTLINE_IVR__OVERRIDES_DIR"] = str(tmp_path / "recorded")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(HOTLINE), "prompts", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    first = run("build")
    assert first.returncode == 0, first.stderr
    count = len(load_catalogue(REPO / "callflows" / "prompts.yaml").names()) * 2
    assert first.stdout.splitlines()[-1] == f"{count} built, 0 unchanged, 0 removed, 0 failed -> var/sounds"
    for wav in (tmp_path / "var" / "sounds").rglob("*.wav"):
        assert asterisk_format(wav) == (8000, 1, 2)

    bad = tmp_path / "recorded" / "zh-CN" / "closing.ogg"
    bad.parent.mkdir(parents=True)
    bad.write_text("not audio")
    second = run("build")
    assert second.returncode == 1
    assert second.stdout.splitlines()[-1] == f"0 built, {count - 1} unchanged, 0 removed, 1 failed -> var/sounds"
    assert f"error: {bad}: not an audio file ffmpeg can read" in second.stderr

    listed = run("list")
    assert "greeting                     S1   built   您好!请问有什么可以帮到您?" in listed.stdout
