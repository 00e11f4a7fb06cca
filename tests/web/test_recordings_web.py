"""Recordings inside the web app: its sessions (with CSRF) and bearer tokens in front of the
recordings routes; flags from the desk attach to the stored call; an agent reaches only their
own recordings; the recordings page; escalations listed and acknowledged by those told."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import Agent, AuditLog, BlacklistEntry, CallFlag, Escalation, Recording
from hotline.domain.enums import EscalationStatus
from hotline.settings import Settings
from hotline.web.app import create_app
from hotline.web.services import WebServices
from recordings.service import RecordingService
from tests.factories import TEST_PASSWORD
from tests.recordings.helpers import FakeCall, FakeClock, RecordingPbx, make_settings


@pytest.fixture
def db_kind() -> str:
    return "sqlite"  # recordings' queries are tested on both databases in tests/recordings


@pytest.fixture
def rclock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = make_settings(tmp_path)
    return Settings(recordings=base.recordings,
                    web={"session_secret": "test-session-secret-0123456789"})


@pytest.fixture
def pbx() -> RecordingPbx:
    return RecordingPbx()


@pytest.fixture
def service(settings: Settings, sessions: sessionmaker[Session], pbx: RecordingPbx,
            rclock: FakeClock) -> RecordingService:
    return RecordingService(settings, sessions, pbx=pbx, clock=rclock)


@pytest.fixture
def app(settings: Settings, engine, service: RecordingService, rclock: FakeClock,  # type: ignore[no-untyped-def]
        users: dict[str, int]) -> FastAPI:
    return create_app(settings, engine, WebServices(recordings=service, clock=rclock))


@pytest.fixture
def agent_ids(sessions: sessionmaker[Session], users: dict[str, int]) -> dict[str, int]:
    with sessions() as s:
        return {name: s.scalar(select(Agent.id).where(Agent.user_id == users[name]))
                for name in ("amy", "bob", "lead")}


class Browser:
    """A logged-in browser session over ASGI, in the test's event loop (the recordings service
    keeps asyncio state, so it must run where the test runs)."""

    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    async def get(self, url: str, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
        return await self.client.get(url, **kw)

    async def post(self, url: str, json: object = None, csrf: bool = True) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return await self.client.post(url, json=json, headers=headers)


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator:  # type: ignore[type-arg]
    clients: list[httpx.AsyncClient] = []

    async def _login(username: str) -> Browser:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://hotline.test")
        clients.append(client)
        r = await client.post("/api/auth/login",
                              json={"username": username, "password": TEST_PASSWORD})
        assert r.status_code == 200, r.text
        return Browser(client, r.json()["csrf_token"])

    yield _login
    for c in clients:
        await c.aclose()


def call_of(service: RecordingService, sessions: sessionmaker[Session], rclock: FakeClock,
            agent_id: int, linkedid: str, caller: str = "+8613812345678") -> FakeCall:
    return FakeCall(service, sessions, rclock, linkedid, caller=caller, agent_id=agent_id)


async def kept_recording(service: RecordingService, call: FakeCall, rclock: FakeClock,
                         amy: Browser) -> int:
    """amy's call, flagged abusive from the desk, ended and stored."""
    await call.arrive()
    await call.answer()
    call.talk(4)
    r = await amy.post("/api/recordings/flags",
                       {"call_key": call.key, "reason": "abusive", "reason_text": "骂人"})
    assert r.status_code == 200, r.text
    await call.end()
    rclock.advance(seconds=3)
    report = await service.sweep()
    assert len(report.stored) == 1, report
    return report.stored[0]


async def test_a_desk_flag_attaches_to_the_stored_call_and_warns_the_caller(
    browser, service, sessions, rclock, agent_ids, pbx
) -> None:  # type: ignore[no-untyped-def]
    amy = await browser("amy")
    call = call_of(service, sessions, rclock, agent_ids["amy"], "1795390253.20")
    await call.arrive()
    await call.answer()

    refused = await amy.post("/api/recordings/flags", {"reason": "abusive"}, csrf=False)
    assert refused.status_code == 403 and "CSRF" in refused.text

    r = await amy.post("/api/recordings/flags", {"call_key": call.key, "reason": "abusive",
                                                 "blacklist": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["step"] == "warning" and body["blacklisted"] is True
    assert ("redirect", "PJSIP/carrier-0000001c") == pbx.actions[-1][:2]
    with sessions() as s:
        flag = s.scalars(select(CallFlag)).one()
        entry = s.scalars(select(BlacklistEntry)).one()
    assert flag.call_id == call.call_id and flag.flagged_by_id is not None
    assert entry.phone == "+8613812345678"
    card = (await amy.get("/api/customers/card", params={"phone": "13812345678"})).json()
    assert card["blacklisted"] is True

    other = await amy.post("/api/recordings/flags", {"reason": "other"})
    assert other.status_code == 422 and "reason_text" in other.text


async def test_an_agent_cannot_flag_or_hear_another_agents_call(
    browser, service, sessions, rclock, agent_ids, users
) -> None:  # type: ignore[no-untyped-def]
    amy, bob, sup = await browser("amy"), await browser("bob"), await browser("sup")
    call = call_of(service, sessions, rclock, agent_ids["amy"], "1795390253.21")
    rec_id = await kept_recording(service, call, rclock, amy)

    r = await bob.post("/api/recordings/flags", {"call_key": call.key, "reason": "abusive"})
    assert r.status_code == 403
    for url in (f"/api/recordings/{rec_id}", f"/api/recordings/{rec_id}/stream",
                f"/api/recordings/{rec_id}/download"):
        r = await bob.get(url)
        assert r.status_code == 403, (url, r.text)
        assert b"RIFF" not in r.content
    assert (await bob.get("/api/recordings")).json() == []
    assert [x["id"] for x in (await amy.get("/api/recordings")).json()] == [rec_id]

    wav = await sup.get(f"/api/recordings/{rec_id}/download")
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    mp3 = await sup.get(f"/api/recordings/{rec_id}/stream", params={"format": "mp3"})
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    assert len(mp3.content) > 1000
    with sessions() as s:
        audit = {(a.action, a.actor_id) for a in s.scalars(select(AuditLog))}
        flagged_by = s.scalar(select(Recording.flagged_by_id))
    assert {("recording.denied", users["bob"]), ("recording.download", users["sup"]),
            ("recording.listen", users["sup"])} <= audit
    assert flagged_by == users["amy"]


async def test_anonymous_and_token_access(app: FastAPI, bearer, service, sessions, rclock,
                                          agent_ids, browser) -> None:  # type: ignore[no-untyped-def]
    amy = await browser("amy")
    call = call_of(service, sessions, rclock, agent_ids["amy"], "1795390253.22")
    rec_id = await kept_recording(service, call, rclock, amy)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hotline.test") as anon:
        for url in ("/api/recordings", f"/api/recordings/{rec_id}/download"):
            r = await anon.get(url)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await anon.get("/recordings")
        assert r.status_code == 303
    token = bearer("sup").headers["authorization"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hotline.test",
                                 headers={"Authorization": token}) as integration:
        r = await integration.get(f"/api/recordings/{rec_id}")
        assert r.status_code == 200 and r.json()["reason"] == "abusive"


async def test_recordings_page_lists_filters_and_plays(browser, service, sessions, rclock,
                                                       agent_ids) -> None:  # type: ignore[no-untyped-def]
    amy, bob, sup = await browser("amy"), await browser("bob"), await browser("sup")
    rec_id = await kept_recording(
        service, call_of(service, sessions, rclock, agent_ids["amy"], "1795390253.23"), rclock,
        amy)
    page = await sup.get("/recordings")
    assert page.status_code == 200
    assert f'src="/api/recordings/{rec_id}/stream?format=mp3"' in page.text
    assert f'href="/api/recordings/{rec_id}/download"' in page.text
    assert 'preload="none"' in page.text  # opening the page is not a listen
    # The filter form sends "" for "all": no filter, not an error.
    same = await sup.get("/recordings?reason=&agent_id=&date_from=&date_to=")
    assert same.status_code == 200 and f'id="recording-{rec_id}"' in same.text
    none = await sup.get("/recordings?reason=extortion")
    assert f'id="recording-{rec_id}"' not in none.text and "无 none" in none.text
    day = rclock().astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    dated = await sup.get(f"/recordings?date_from={day}&date_to={day}&agent_id={agent_ids['amy']}")
    assert f'id="recording-{rec_id}"' in dated.text
    bad = await sup.get(f"/recordings?date_from={day}&date_to={day - dt.timedelta(days=1)}")
    assert bad.status_code == 422 and "date_to is before date_from" in bad.text
    assert f'id="recording-{rec_id}"' in (await amy.get("/recordings")).text
    assert f'id="recording-{rec_id}"' not in (await bob.get("/recordings")).text
    with sessions() as s:
        listens = s.scalars(select(AuditLog).where(AuditLog.action == "recording.listen")).all()
    assert listens == []


async def test_extortion_escalation_is_listed_and_acknowledged_by_those_told(
    browser, service, sessions, rclock, agent_ids, users
) -> None:  # type: ignore[no-untyped-def]
    amy, bob = await browser("amy"), await browser("bob")
    lead, sup, admin = await browser("lead"), await browser("sup"), await browser("admin")
    call = call_of(service, sessions, rclock, agent_ids["amy"], "1795390253.24")
    await call.arrive()
    await call.answer()
    r = await amy.post("/api/recordings/flags", {"call_key": call.key, "reason": "extortion",
                                                 "reason_text": "要求赔偿十万否则曝光"})
    assert r.status_code == 200 and r.json()["escalation_id"] is not None
    esc_id = r.json()["escalation_id"]

    assert (await bob.get("/api/escalations")).status_code == 403
    for who in (lead, sup, admin):
        listed = (await who.get("/api/escalations")).json()
        assert [e["id"] for e in listed] == [esc_id]
        assert listed[0]["call_id"] == call.call_id and listed[0]["raised_by"] == "amy"
        assert listed[0]["reason_text"] == "要求赔偿十万否则曝光"

    refused = await lead.post(f"/api/escalations/{esc_id}/acknowledge", csrf=False)
    assert refused.status_code == 403
    ack = await lead.post(f"/api/escalations/{esc_id}/acknowledge")
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == "lead"
    again = await sup.post(f"/api/escalations/{esc_id}/acknowledge")
    assert again.json()["acknowledged_by"] == "lead"  # the first one to take it stays
    assert (await sup.get("/api/escalations")).json() == []
    done = (await sup.get("/api/escalations", params={"status": "acknowledged"})).json()
    assert [e["id"] for e in done] == [esc_id]
    assert (await sup.post("/api/escalations/999999/acknowledge")).status_code == 404
    with sessions() as s:
        row = s.get(Escalation, esc_id)
        assert row is not None and row.status is EscalationStatus.ACKNOWLEDGED
        assert row.acknowledged_by_id == users["lead"]
        assert s.scalar(select(AuditLog.id).where(AuditLog.action == "escalation.acknowledge"))


async def test_a_team_leader_not_told_cannot_acknowledge(
    browser, service, sessions, rclock, agent_ids, users
) -> None:  # type: ignore[no-untyped-def]
    from hotline.db.models import EscalationRecipient

    amy, lead = await browser("amy"), await browser("lead")
    call = call_of(service, sessions, rclock, agent_ids["amy"], "1795390253.25")
    await call.arrive()
    await call.answer()
    esc_id = (await amy.post("/api/recordings/flags", {
        "call_key": call.key, "reason": "extortion", "reason_text": "勒索"})).json()["escalation_id"]
    with sessions.begin() as s:
        s.execute(EscalationRecipient.__table__.delete().where(
            EscalationRecipient.user_id == users["lead"]))
    assert (await lead.get("/api/escalations")).json() == []
    r = await lead.post(f"/api/escalations/{esc_id}/acknowledge")
    assert r.status_code == 403 and "not raised to you" in r.text
