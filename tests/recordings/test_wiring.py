"""The service as hotline runs it: events arrive through the bus and the sweeper runs on its
own, in real (short) time."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from hotline.bus import EventBus
from hotline.db.models import Recording
from hotline.settings import ConfigError, load_settings
from recordings.service import RecordingService, utcnow
from tests.recordings.helpers import FakeCall, FakeClock, RecordingPbx, make_settings


async def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_events_through_the_bus_and_the_sweeper_on_its_own(tmp_path, sessions, people
                                                                 ) -> None:
    clock = FakeClock(utcnow())  # event times follow the real clock the service uses
    settings = make_settings(tmp_path, flag_grace_minutes=0, sweep_seconds=0.05,
                             settle_seconds=0)
    service = RecordingService(settings, sessions, pbx=RecordingPbx())
    bus = EventBus()
    service.subscribe(bus)
    await bus.start()
    await service.start()
    try:
        calls = [FakeCall(service, sessions, clock, f"1795390300.{n}",
                          agent_id=people.agent.agent_id) for n in (1, 2)]
        # FakeCall hands events to service.handle; here they go through the bus instead
        for call in calls:
            call.service = _Publisher(bus, service)  # type: ignore[assignment]
            await call.arrive()
            await call.answer()
            call.talk(0.2)
        await bus.join()
        await service.flag(people.supervisor, {"call_key": calls[0].key, "reason": "abusive"})
        for call in calls:
            await call.end()
        await bus.join()
        with sessions() as s:
            await wait_for(lambda: s.scalar(select(Recording.id)) is not None)
        await wait_for(lambda: not calls[1].spool_file.exists())
        assert not calls[0].spool_file.exists()
    finally:
        await service.stop()
        await bus.stop()
    assert bus.stats()["recordings"].errors == 0


class _Publisher:
    """Stands in for the service inside FakeCall: events go to the bus."""

    def __init__(self, bus: EventBus, service: RecordingService) -> None:
        self.bus, self.spool = bus, service.spool

    async def handle(self, event) -> None:  # type: ignore[no-untyped-def]
        self.bus.publish(event)


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("SWEEP_SECONDS", "120", "recordings.sweep_seconds"),
    ("WARNING_PROMPT", "x;System(rm -rf /)", "recordings.warning_prompt"),
    ("FLAG_GRACE_MINUTES", "-1", "recordings.flag_grace_minutes"),
])
def test_bad_recordings_settings_name_the_key(monkeypatch, key: str, value: str,
                                              shown: str) -> None:
    monkeypatch.setenv(f"HOTLINE_RECORDINGS__{key}", value)
    with pytest.raises(ConfigError, match=shown.replace(".", r"\.")):
        load_settings()
