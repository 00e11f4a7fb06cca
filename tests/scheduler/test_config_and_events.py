"""The [scheduler] section refuses bad values naming the key; dropped calls reported on the
event bus become callbacks (once, however many ways they arrive)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hotline.bus import EventBus
from hotline.db.models import OutboundTask
from hotline.db.session import session_factory, transaction
from hotline.domain.enums import CallingWindow, TaskType
from hotline.domain.events import CallEnded
from hotline.settings import ConfigError, load_settings
from scheduler.service import OutboundScheduler
from tests.scheduler.conftest import MONDAY_10, FakePbx, add_agent, make_settings


def test_scheduler_settings_from_toml_and_refusals(tmp_path: Path) -> None:
    (tmp_path / "hotline.toml").write_text(
        '[scheduler]\nmode = "customer_first"\nretries = 4\nnew_calls_per_second = 0.5\n'
        'windows = { follow-up = "business_hours_any_day" }\n'
        '[[scheduler.festivals]]\ndate = 2027-02-06\nname = "春节"\n', encoding="utf-8")
    s = load_settings(tmp_path / "hotline.toml")
    assert s.scheduler.mode == "customer_first" and s.scheduler.max_attempts == 5
    assert s.scheduler.windows[TaskType.FOLLOW_UP] is CallingWindow.BUSINESS_HOURS_ANY_DAY
    assert s.scheduler.festivals[0].date == dt.date(2027, 2, 6)
    (tmp_path / "bad.toml").write_text(
        '[scheduler]\nmode = "robot"\nmax_concurrent_calls = 0\nwindows = { lunch = "x" }\n',
        encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "bad.toml")
    text = str(err.value)
    assert "scheduler.mode:" in text and "scheduler.max_concurrent_calls:" in text
    assert "scheduler.windows.lunch" in text


async def test_abnormal_call_end_on_the_bus_becomes_one_callback(engine: Engine) -> None:
    settings = make_settings()
    with transaction(session_factory(engine)) as s:
        agent_id = add_agent(s).id
    svc = OutboundScheduler(settings, engine, FakePbx())
    bus = EventBus()
    svc.subscribe(bus)
    await bus.start()
    event = CallEnded(at=MONDAY_10, call_key="pbx1:1795390096.62", disposition="answered",
                      hangup_cause=38, end_reason="network", abnormal=True, agent_id=agent_id,
                      caller_number="13912345678")
    bus.publish(event)
    bus.publish(event)  # delivered twice: still one task
    bus.publish(CallEnded(at=MONDAY_10, call_key="pbx1:2.2", disposition="answered",
                          hangup_cause=16, end_reason="caller-hangup", abnormal=False,
                          agent_id=agent_id, caller_number="13912345679"))
    await bus.join()
    await bus.stop()
    with session_factory(engine)() as s:
        (task,) = s.scalars(select(OutboundTask)).all()
    assert task.type is TaskType.DROPPED_CALL and task.agent_id == agent_id
    assert task.dedupe_key == "dropped-call:pbx1:1795390096.62"
    await asyncio.sleep(0)
