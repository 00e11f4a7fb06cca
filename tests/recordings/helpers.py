"""Test doubles and builders for the recordings tests: a PBX that records the AMI actions it
is asked for, a clock the test moves, MixMonitor-like WAV files, calls as the bridge reports
them."""

from __future__ import annotations

import datetime as dt
import math
import struct
import wave
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import Call
from hotline.db.session import transaction
from hotline.domain.enums import CallDirection
from hotline.domain.events import (
    AgentAnswered,
    CallAnswered,
    CallArrived,
    CallEnded,
    RecordingStarted,
)
from hotline.domain.ports import OriginateResult
from hotline.domain.spool import spool_file_name
from hotline.settings import RecordingSettings, Settings
from recordings.service import RecordingService

RATE = 8000  # MixMonitor: 8 kHz, mono, 16-bit PCM
T0 = dt.datetime(2026, 11, 23, 1, 30, tzinfo=dt.UTC)  # 09:30 in Shanghai


class FakeClock:
    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass
class RecordingPbx:
    """PbxActions that sends nothing and remembers every action, in order."""

    actions: list[tuple[Any, ...]] = field(default_factory=list)
    fail_with: Exception | None = None

    def _note(self, *action: Any) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.actions.append(action)

    async def originate(self, *, action_id: str, channel: str, context: str, exten: str,
                        priority: int = 1, timeout: float, caller_id: str,
                        variables: Mapping[str, str]) -> OriginateResult:
        self._note("originate", channel, context, exten)
        return OriginateResult(action_id, True, 4, channel, None)

    async def hangup(self, channel: str, cause: int = 16) -> None:
        self._note("hangup", channel, cause)

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1, *,
                       extra_channel: str | None = None, extra_context: str | None = None,
                       extra_exten: str | None = None, extra_priority: int | None = None) -> None:
        self._note("redirect", channel, context, exten, priority, extra_channel, extra_context,
                   extra_exten, extra_priority)

    async def setvar(self, channel: str, name: str, value: str) -> None:
        self._note("setvar", channel, name, value)

    async def getvar(self, channel: str, name: str) -> str | None:
        return None

    async def mixmonitor(self, channel: str, path: str, options: str = "") -> None:
        self._note("mixmonitor", channel, path, options)

    async def stop_mixmonitor(self, channel: str) -> None:
        self._note("stop_mixmonitor", channel)

    async def core_show_channels(self) -> list[dict[str, str]]:
        return []


def tone(seconds: float, freq: float = 440.0) -> bytes:
    """``seconds`` of a sine tone as 16-bit little-endian PCM at 8 kHz."""
    one = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * n / RATE))) for n in range(RATE)
    )
    whole, part = divmod(int(round(seconds * RATE)), RATE)
    return one * whole + one[: part * 2]


class MixMonitorFile:
    """A WAV growing as the call goes on, like MixMonitor writes it: header rewritten on close."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._w = wave.open(str(path), "wb")
        self._w.setnchannels(1)
        self._w.setsampwidth(2)
        self._w.setframerate(RATE)

    def talk(self, seconds: float) -> None:
        self._w.writeframes(tone(seconds))

    def close(self) -> None:
        self._w.close()


def write_wav(path: Path, seconds: float) -> Path:
    f = MixMonitorFile(path)
    f.talk(seconds)
    f.close()
    return path


def make_settings(tmp_path: Path, **recordings: Any) -> Settings:
    rec = RecordingSettings(
        store_dir=tmp_path / "store", spool_dir=tmp_path / "spool",
        cache_dir=tmp_path / "cache", **recordings,
    )
    return Settings(recordings=rec, ivr={"sounds_dir": tmp_path / "sounds"})


@dataclass
class FakeCall:
    """One inbound call, reported to the service the way the bridge reports it."""

    service: RecordingService
    sessions: sessionmaker[Session]
    clock: FakeClock
    linkedid: str
    caller: str = "+8613812345678"
    agent_id: int | None = None
    extension: str = "1001"
    pbx: str = "pbx1"
    call_id: int | None = None
    monitor: MixMonitorFile | None = None

    @property
    def key(self) -> str:
        return f"{self.pbx}:{self.linkedid}"

    @property
    def caller_channel(self) -> str:
        return "PJSIP/carrier-0000001c"

    @property
    def agent_channel(self) -> str:
        return f"PJSIP/{self.extension}-0000002b"

    @property
    def spool_file(self) -> Path:
        return self.service.spool / spool_file_name(self.pbx, self.linkedid, self.linkedid)

    async def arrive(self) -> None:
        self.store_row()
        await self.announce()

    def store_row(self) -> None:
        """What the bridge's writer stores of the arrival."""
        with transaction(self.sessions) as s:
            row = Call(pbx=self.pbx, linkedid=self.linkedid, uniqueid=self.linkedid,
                       direction=CallDirection.INBOUND, caller_number=self.caller,
                       dialled_number="95000", arrived_at=self.clock())
            s.add(row)
            s.flush()
            self.call_id = row.id

    async def announce(self) -> None:
        """The bridge's CallArrived on the bus."""
        now = self.clock()
        await self.service.handle(CallArrived(
            at=now, call_key=self.key, linkedid=self.linkedid, uniqueid=self.linkedid,
            direction="inbound", caller_number=self.caller, dialled_number="95000",
            channel=self.caller_channel,
        ))

    async def answer(self) -> None:
        """Answered by the IVR, then by the agent; MixMonitor starts into the spool."""
        now = self.clock()
        with transaction(self.sessions) as s:
            row = s.get(Call, self.call_id)
            row.answered_at = row.agent_answered_at = now
            row.answered_by_agent_id = self.agent_id
        await self.service.handle(CallAnswered(at=now, call_key=self.key, ring=3))
        await self.service.handle(AgentAnswered(
            at=now, call_key=self.key, agent_id=self.agent_id, extension=self.extension,
            channel=self.agent_channel, ring=3,
        ))
        self.monitor = MixMonitorFile(self.spool_file)
        await self.service.handle(RecordingStarted(
            at=now, call_key=self.key, channel=self.caller_channel, path=str(self.spool_file),
        ))

    def talk(self, seconds: float) -> None:
        assert self.monitor is not None
        self.monitor.talk(seconds)
        self.clock.advance(seconds=seconds)

    async def end(self) -> None:
        now = self.clock()
        if self.monitor is not None:
            self.monitor.close()
        with transaction(self.sessions) as s:
            s.get(Call, self.call_id).ended_at = now
        await self.service.handle(CallEnded(
            at=now, call_key=self.key, disposition="answered", hangup_cause=16,
            end_reason="caller-hangup", abnormal=False, agent_id=self.agent_id,
            caller_number=self.caller,
        ))
