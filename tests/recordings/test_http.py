"""The recordings API as a browser uses it: who may list, listen and download; every listen
and download audited; paths in requests never reach the file system."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException
from sqlalchemy import select

from hotline.db.models import AuditLog, Recording
from hotline.db.session import transaction
from recordings.access import Actor
from recordings.http import create_router
from recordings.service import RecordingService
from recordings.transcode import PlaybackFormat
from tests.recordings.test_keeping import keep


@pytest.fixture
def client(service: RecordingService, people):  # type: ignore[no-untyped-def]
    """The app with a stand-in for the web app's auth: ``X-User: <username>``."""
    by_name = {
        "agent": people.agent, "other": people.other_agent, "leader": people.leader,
        "supervisor": people.supervisor, "admin": people.admin,
    }

    def current_user(x_user: str = Header(default="")) -> Actor:
        if x_user not in by_name:
            raise HTTPException(401, "sign in first")
        return by_name[x_user]

    app = FastAPI()
    app.include_router(create_router(service, current_user))
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://hotline.test")


def as_(who: str) -> dict[str, str]:
    return {"X-User": who}


def audit(service: RecordingService, action: str) -> list[AuditLog]:
    with service.sessions() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action)))


async def test_an_agent_cannot_fetch_another_agents_recording(
    client: httpx.AsyncClient, service: RecordingService, new_call, people
) -> None:
    rec = await keep(service, new_call, people)  # people.agent's call
    for who in ("other", "leader"):
        for url in (f"/api/recordings/{rec.id}", f"/api/recordings/{rec.id}/download",
                    f"/api/recordings/{rec.id}/stream"):
            r = await client.get(url, headers=as_(who))
            assert r.status_code == 403, (who, url, r.text)
            assert b"RIFF" not in r.content
    assert (await client.get("/api/recordings", headers=as_("other"))).json() == []
    denied = audit(service, "recording.denied")
    assert len(denied) == 6 and {d.actor_id for d in denied} == {
        people.other_agent.user_id, people.leader.user_id}
    assert (await client.get(f"/api/recordings/{rec.id}")).status_code == 401


async def test_the_agent_of_the_call_and_supervisors_listen_and_download_audited(
    client: httpx.AsyncClient, service: RecordingService, new_call, people, tmp_path
) -> None:
    rec = await keep(service, new_call, people, seconds=12)
    wav = await client.get(f"/api/recordings/{rec.id}/download", headers=as_("agent"))
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    assert wav.content == service.store.path(rec.storage_key).read_bytes()
    assert "attachment" in wav.headers["content-disposition"]

    mp3 = await client.get(f"/api/recordings/{rec.id}/stream", headers=as_("supervisor"))
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    out = tmp_path / "got.mp3"
    out.write_bytes(mp3.content)
    probe = await asyncio.to_thread(
        subprocess.run, ["ffprobe", "-v", "error", "-show_entries",
                         "format=duration:stream=codec_name", "-of", "default=nw=1", str(out)],
        capture_output=True, text=True)
    assert "codec_name=mp3" in probe.stdout
    duration = float(probe.stdout.split("duration=")[1].split()[0])
    assert abs(duration - 12) < 0.5

    opus = await client.get(f"/api/recordings/{rec.id}/stream?format=opus", headers=as_("admin"))
    assert opus.status_code == 200 and opus.content[:4] == b"OggS"

    # cached: the second listen serves the copy made by the first, not a new one (a new
    # copy would be a new file renamed into place, so a new inode)
    cached = service.cache.path_for(rec.sha256, PlaybackFormat.MP3)
    inode = cached.stat().st_ino
    again = await client.get(f"/api/recordings/{rec.id}/stream", headers=as_("agent"))
    assert again.content == mp3.content and cached.stat().st_ino == inode

    listens = audit(service, "recording.listen")
    downloads = audit(service, "recording.download")
    assert [(a.actor_id, a.details["format"]) for a in listens] == [
        (people.supervisor.user_id, "mp3"), (people.admin.user_id, "opus"),
        (people.agent.user_id, "mp3")]
    assert [(a.actor_id, a.object_id) for a in downloads] == [(people.agent.user_id, str(rec.id))]
    assert all(a.at is not None and a.client == "127.0.0.1" for a in listens + downloads)


@pytest.mark.parametrize("url", [
    "/api/recordings/..%2F..%2Fetc%2Fpasswd/download",
    "/api/recordings/%2Fetc%2Fpasswd/download",
    "/api/recordings/..%2F1/stream",
    "/api/recordings/1/stream?format=..%2F..%2Fetc%2Fpasswd",
    "/api/recordings/1/stream?format=%2Fetc%2Fpasswd",
    "/api/recordings/1/download/..%2F..%2Fetc%2Fpasswd",
    "/api/recordings/%2e%2e/download",
    "/api/recordings?reason=..%2F..%2Fetc",
    "/api/recordings/0/download",
])
async def test_paths_in_requests_are_refused(
    client: httpx.AsyncClient, service: RecordingService, new_call, people, url: str
) -> None:
    await keep(service, new_call, people)
    r = await client.get(url, headers=as_("supervisor"))
    assert r.status_code in (404, 422), r.text
    assert b"root:" not in r.content and b"RIFF" not in r.content


async def test_a_tampered_storage_key_serves_nothing(
    client: httpx.AsyncClient, service: RecordingService, new_call, people
) -> None:
    rec = await keep(service, new_call, people)
    with transaction(service.sessions) as s:
        s.get(Recording, rec.id).storage_key = "/etc/passwd"
    for url in (f"/api/recordings/{rec.id}/download", f"/api/recordings/{rec.id}/stream"):
        r = await client.get(url, headers=as_("supervisor"))
        assert r.status_code == 404 and b"root:" not in r.content


async def test_list_filters_by_reason_agent_and_local_date(
    client: httpx.AsyncClient, service: RecordingService, new_call, people
) -> None:
    abusive = await keep(service, new_call, people, "abusive")
    extortion = await keep(service, new_call, people, "extortion")
    got = (await client.get("/api/recordings?reason=extortion", headers=as_("supervisor"))).json()
    assert [g["id"] for g in got] == [extortion.id] and got[0]["legal_hold"] is True
    day = (await client.get("/api/recordings?date_from=2026-11-23&date_to=2026-11-23",
                            headers=as_("supervisor"))).json()
    assert {g["id"] for g in day} == {abusive.id, extortion.id}
    assert (await client.get("/api/recordings?date_from=2026-11-24",
                             headers=as_("supervisor"))).json() == []
    mine = (await client.get(f"/api/recordings?agent_id={people.agent.agent_id}",
                             headers=as_("agent"))).json()
    assert len(mine) == 2
    bad = await client.get("/api/recordings?date_from=2026-11-24&date_to=2026-11-23",
                           headers=as_("supervisor"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "date_to"


async def test_flag_endpoint(client: httpx.AsyncClient, service: RecordingService, new_call,
                             people) -> None:
    call = new_call()
    await call.arrive()
    await call.answer()
    r = await client.post("/api/recordings/flags", headers=as_("agent"),
                          json={"reason": "abusive", "reason_text": "脏话"})
    assert r.status_code == 200, r.text
    assert r.json()["step"] == "warning" and r.json()["call_key"] == call.key
    r = await client.post("/api/recordings/flags", headers=as_("agent"), json={"reason": "other"})
    assert r.status_code == 422
    assert r.json()["detail"] == [{"field": "reason_text",
                                   "reason": "is required when the reason is 'other'"}]
    r = await client.post("/api/recordings/flags", headers=as_("other"),
                          json={"call_key": call.key, "reason": "abusive"})
    assert r.status_code == 403
    r = await client.post("/api/recordings/flags", headers=as_("supervisor"),
                          json={"call_key": "../../etc/passwd", "reason": "abusive"})
    assert r.status_code == 404


async def test_a_flag_the_database_loses_is_a_503_that_says_what_the_caller_heard(
    client: httpx.AsyncClient, service: RecordingService, new_call, monkeypatch
) -> None:
    from sqlalchemy.exc import OperationalError

    call = new_call()
    await call.arrive()
    await call.answer()

    def broken(session, **flag):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr("recordings.service.store_flag", broken)
    r = await client.post("/api/recordings/flags", headers=as_("agent"),
                          json={"reason": "abusive"})
    assert r.status_code == 503
    assert "warned (S15)" in r.json()["detail"] and "flag the call again" in r.json()["detail"]
    assert "database is locked" not in r.text, "the database's own words stay in the log"

    # with the blacklist asked for, nothing is played before the database answers
    service.pbx.actions.clear()
    r = await client.post("/api/recordings/flags", headers=as_("agent"),
                          json={"reason": "abusive", "blacklist": True})
    assert r.status_code == 503 and r.json()["detail"] == (
        "the database did not answer; try again in a moment")
    assert service.pbx.actions == []
