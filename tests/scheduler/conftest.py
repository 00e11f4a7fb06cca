"""Shared pieces of the scheduler tests: a frozen clock, settings with compressed timings, a
small in-test PbxActions that records every Originate (phase 2 puts the real bridge and pbxsim
in its place), and builders for agents and customers."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from hotline.db.models import Agent, Customer
from hotline.domain.enums import AgentState, Role
from hotline.domain.ports import OriginateResult
from hotline.settings import Settings, load_settings
from tests.factories import make_user

SH = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return dt.datetime(*args, tzinfo=SH).astimezone(dt.UTC)


# Monday 23 November 2026, 10:00 in Shanghai: an ordinary working morning.
MONDAY_10 = local(2026, 11, 23, 10, 0)


class FrozenClock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> dt.datetime:
        self.now += dt.timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(MONDAY_10)


def make_settings(**scheduler: Any) -> Settings:
    base = {
        "retry_delay_seconds": 600,
        "agent_retry_delay_seconds": 60,
        "max_concurrent_calls": 10,
        "new_calls_per_second": 100,
        "lease_seconds": 0.6,
        "standby_poll_seconds": 0.1,
        "reconcile_seconds": 0.05,
        "tick_seconds": 3600,
    }
    base.update(scheduler)
    return load_settings(
        ring={"on_seconds": 0.1, "off_seconds": 0.4}, scheduler=base
    )


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HOTLINE_") and key != "HOTLINE_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


_ext = itertools.count(1001)


def add_agent(session: Session, *, ready: bool = True, name: str | None = None) -> Agent:
    ext = str(next(_ext))
    user = make_user(session, name or f"agent{ext}", Role.AGENT, extension=ext)
    assert user.agent is not None
    user.agent.state = AgentState.READY if ready else AgentState.LOGGED_OUT
    session.flush()
    return user.agent


_phone = itertools.count(13800000001)


def add_customer(session: Session, **kw: Any) -> Customer:
    kw.setdefault("phone", f"+86{next(_phone)}")
    customer = Customer(**kw)
    session.add(customer)
    session.flush()
    return customer


@dataclass
class Sent:
    """One Originate the fake PBX received."""

    args: dict[str, Any]
    at: float

    @property
    def action_id(self) -> str:
        return str(self.args["action_id"])

    @property
    def attempt_id(self) -> int:
        return int(self.args["variables"]["HOTLINE_ATTEMPT_ID"])

    @property
    def task_id(self) -> int:
        return int(self.args["variables"]["HOTLINE_TASK_ID"])


@dataclass
class FakePbx:
    """PbxActions that records every Originate and answers from a script.

    ``script(args) -> reason`` decides the OriginateResponse Reason (default 4). With
    ``hold_answered`` an answered call stays up (its channels show in CoreShowChannels with
    ``HOTLINE_ATTEMPT_ID``) until :meth:`hang_up` ends it."""

    script: Callable[[dict[str, Any]], int] = lambda args: 4
    ring_seconds: float = 0.0
    hold_answered: bool = False
    sent: list[Sent] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def originate(self, *, action_id: str, channel: str, context: str, exten: str,
                        priority: int = 1, timeout: float, caller_id: str,
                        variables: Mapping[str, str]) -> OriginateResult:
        args = {"action_id": action_id, "channel": channel, "context": context, "exten": exten,
                "priority": priority, "timeout": timeout, "caller_id": caller_id,
                "variables": dict(variables)}
        self.sent.append(Sent(args, time.monotonic()))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            reason = self.script(args)
            if self.ring_seconds:
                await asyncio.sleep(self.ring_seconds)
        finally:
            if not (self.hold_answered and reason == 4):
                self.active -= 1
        uid = f"1795390{next(self._seq)}.1"
        name = f"{channel}-0000{len(self.sent):04x}"
        if reason == 4 and self.hold_answered:
            self.add_channel(name, uid, variables["HOTLINE_ATTEMPT_ID"], up=True)
        if reason == 4:
            return OriginateResult(action_id, True, 4, name, uid)
        return OriginateResult(action_id, False, reason, channel, "<unknown>")

    def add_channel(self, name: str, uniqueid: str, attempt_id: str, *, up: bool) -> None:
        self.channels.append({
            "Event": "CoreShowChannel", "Channel": name, "ChannelState": "6" if up else "5",
            "ChannelStateDesc": "Up" if up else "Ringing", "Uniqueid": uniqueid,
            "ChanVariable": ["HOTLINE_CALL_ID=", f"HOTLINE_ATTEMPT_ID={attempt_id}",
                             "HOTLINE_CATEGORY="],
        })

    def hang_up(self, attempt_id: int) -> None:
        before = len(self.channels)
        self.channels = [c for c in self.channels
                         if f"HOTLINE_ATTEMPT_ID={attempt_id}" not in c["ChanVariable"]]
        if len(self.channels) < before:
            self.active -= 1

    def hang_up_all(self) -> None:
        for sent in self.sent:
            self.hang_up(sent.attempt_id)

    async def core_show_channels(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self.channels]

    def for_task(self, task_id: int) -> list[Sent]:
        return [s for s in self.sent if s.task_id == task_id]

    async def hangup(self, channel: str, cause: int = 16) -> None: ...
    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1, **kw: Any) -> None: ...
    async def setvar(self, channel: str, name: str, value: str) -> None: ...
    async def getvar(self, channel: str, name: str) -> str | None:
        return None
    async def mixmonitor(self, channel: str, path: str, options: str = "") -> None: ...
    async def stop_mixmonitor(self, channel: str) -> None: ...


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
