"""The live feed over a real HTTP connection (Server-Sent Events): an agent's browser gets the
calls offered to their own seat, with the caller's number for the card; a supervisor's gets
everything; the stream ends after its lifetime so browsers reconnect."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.accounts.tokens import issue_token
from hotline.bus import EventBus
from hotline.db.models import Agent
from hotline.domain.events import AgentAnswered, CallArrived, CallEnded, CallOffered
from hotline.settings import Settings
from hotline.web.app import create_app
from hotline.web.services import WebServices
from tests.web.server import LiveServer

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def db_kind() -> str:
    return "sqlite"  # the feed never touches the database


class Stream:
    """Reads one SSE stream in a thread, collecting (event, data) pairs."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[tuple[str, dict]] = []  # type: ignore[type-arg]
        self.ended = threading.Event()
        self.hello = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()

    def _read(self, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        with httpx.stream("GET", url, headers=headers, timeout=10) as r:
            assert r.status_code == 200
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    self.events.append((event, json.loads(line[6:])))
                    if event == "hello":
                        self.hello.set()
        self.ended.set()

    def kinds(self) -> list[str]:
        return [e for e, _ in self.events]


@pytest.fixture
def live(engine: Engine, sessions: sessionmaker[Session], users: dict[str, int]) -> Iterator:  # type: ignore[type-arg]
    bus = EventBus()
    app = create_app(Settings(), engine, WebServices(bus=bus, live_stream_seconds=3.0))
    with LiveServer(app) as server:
        server.run(bus.start())
        yield server, bus
        server.run(bus.stop())


def _token(sessions: sessionmaker[Session], user_id: int) -> str:
    with sessions.begin() as s:
        return issue_token(s, user_id=user_id, name="sse", created_by_id=None).secret


def test_agents_get_their_own_calls_supervisors_everything(live, sessions, users) -> None:  # type: ignore[no-untyped-def]
    server, bus = live
    with sessions() as s:
        amy = s.scalar(select(Agent.id).where(Agent.extension == "1001"))
        bob = s.scalar(select(Agent.id).where(Agent.extension == "1002"))
    streams = {name: Stream(f"{server.url}/api/live", _token(sessions, users[name]))
               for name in ("amy", "bob", "sup")}
    for stream in streams.values():
        assert stream.hello.wait(5)
    key = "pbx1:1772416800.1"
    for event in (
        CallArrived(at=NOW, call_key=key, linkedid="1772416800.1", uniqueid="1772416800.1",
                    direction="inbound", caller_number="+8613800138000", dialled_number="12345",
                    channel="PJSIP/carrier-00000001"),
        CallOffered(at=NOW, call_key=key, agent_id=amy, extension="1001",
                    channel="PJSIP/1001-00000002"),
        AgentAnswered(at=NOW, call_key=key, agent_id=amy, extension="1001",
                      channel="PJSIP/1001-00000002", ring=3),
        CallEnded(at=NOW, call_key=key, disposition="answered", hangup_cause=16,
                  end_reason="caller-hangup", abnormal=False, agent_id=amy),
    ):
        server.call_soon(bus.publish, event)
    for stream in streams.values():
        assert stream.ended.wait(6), "the stream should end after its lifetime"
    amy_events = dict(streams["amy"].events)
    assert streams["amy"].kinds() == ["hello", "call_offered", "agent_answered", "call_ended"]
    assert amy_events["call_offered"]["caller_number"] == "+8613800138000"
    assert amy_events["call_offered"]["call_key"] == key
    assert streams["bob"].kinds() == ["hello"]
    assert streams["sup"].kinds() == ["hello", "call_arrived", "call_offered", "agent_answered",
                                      "call_ended"]
    assert bob != amy


def test_without_a_bus_live_answers_503(engine: Engine, sessions, users) -> None:  # type: ignore[no-untyped-def]
    app = create_app(Settings(), engine)
    with LiveServer(app) as server:
        r = httpx.get(f"{server.url}/api/live",
                      headers={"Authorization": f"Bearer {_token(sessions, users['amy'])}"})
    assert r.status_code == 503 and "event bus" in r.json()["detail"]


def test_escalations_reach_those_told_and_call_updates_the_agents_on_the_call(
    live, sessions, users
) -> None:  # type: ignore[no-untyped-def]
    from hotline.domain.events import CallRecord, CallUpdated, EscalationRaised, LegRecord

    server, bus = live
    with sessions() as s:
        amy = s.scalar(select(Agent.id).where(Agent.extension == "1001"))
    streams = {name: Stream(f"{server.url}/api/live", _token(sessions, users[name]))
               for name in ("amy", "bob", "lead", "sup", "admin")}
    for stream in streams.values():
        assert stream.hello.wait(5)
    key = "pbx1:1772416800.2"
    record = CallRecord(
        pbx="pbx1", linkedid="1772416800.2", uniqueid="1772416800.2", direction="inbound",
        caller_number="+8613800138000", dialled_number="12345", arrived_at=NOW,
        category="complaint",
        legs=(LegRecord(uniqueid="1772416800.3", channel="PJSIP/1001-00000003", role="agent",
                        agent_id=amy, created_at=NOW),),
    )
    server.call_soon(bus.publish, CallUpdated(at=NOW, record=record))
    server.call_soon(bus.publish, EscalationRaised(
        at=NOW, kind="extortion", message="勒索/敲诈来电", data={"call_key": key},
        escalation_id=7, call_key=key, recipient_user_ids=(users["sup"],)))
    for stream in streams.values():
        assert stream.ended.wait(6)
    amy_events = dict(streams["amy"].events)
    assert streams["amy"].kinds() == ["hello", "call_updated"]
    assert amy_events["call_updated"]["category"] == "complaint"
    assert amy_events["call_updated"]["agent_ids"] == [amy]
    assert amy_events["call_updated"]["call_key"] == key
    assert "legs" not in amy_events["call_updated"]  # a summary, not the bridge's record
    assert streams["bob"].kinds() == ["hello"]
    assert streams["lead"].kinds() == ["hello", "call_updated"]  # not told of escalation 7
    assert streams["sup"].kinds() == ["hello", "call_updated", "escalation_raised"]
    assert streams["admin"].kinds() == ["hello", "call_updated", "escalation_raised"]
    sup_events = dict(streams["sup"].events)
    assert sup_events["escalation_raised"]["escalation_id"] == 7
    assert sup_events["escalation_raised"]["recipient_user_ids"] == [users["sup"]]
