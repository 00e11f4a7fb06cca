"""The live feed across processes (PostgreSQL LISTEN/NOTIFY): a browser connected to a web
worker without a bridge sees the events of another process's bridge, with the JSON that
process's own feed sends, once; the feed comes back after its connections were dropped or the
server restarted; and ``hotline web`` runs such a worker from the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from hotline.accounts.tokens import issue_token
from hotline.app import Runtime, serving_web
from hotline.cli import cli
from hotline.db.models import Agent
from hotline.db.session import make_engine
from hotline.devtools.pgserver import PostgresServer
from hotline.domain.enums import Role
from hotline.domain.events import (
    AgentAnswered,
    Alert,
    CallArrived,
    CallEnded,
    CallOffered,
    CallRecord,
    CallUpdated,
    EscalationRaised,
    LegRecord,
)
from hotline.settings import ConfigError, Settings, load_settings
from hotline.web.auth.principal import Principal
from hotline.web.live import LiveFeed
from hotline.web.live_relay import LiveRelayListener, LiveRelayPublisher, conninfo_of
from tests.web.server import free_port

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
KEY = "pbx1:1772416800.1"


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _token(sessions: sessionmaker[Session], user_id: int) -> str:
    with sessions.begin() as s:
        return issue_token(s, user_id=user_id, name="sse", created_by_id=None).secret


async def _until(check: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


class Sse:
    """One browser's /api/live stream: (event, raw data line) pairs as they arrive."""

    def __init__(self, client: httpx.AsyncClient, url: str, token: str) -> None:
        self.events: list[tuple[str, str]] = []
        self._task = asyncio.get_running_loop().create_task(self._read(client, url, token))

    async def _read(self, client: httpx.AsyncClient, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        async with client.stream("GET", url, headers=headers) as r:
            assert r.status_code == 200, await r.aread()
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    self.events.append((event, line[6:]))

    def kinds(self) -> list[str]:
        return [e for e, _ in self.events if e != "hello"]

    def data(self) -> list[tuple[str, str]]:
        return [(e, d) for e, d in self.events if e != "hello"]

    async def hello(self) -> None:
        await _until(lambda: bool(self.events), what="hello")

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _events(amy: int, lead_user: int) -> list[Any]:
    record = CallRecord(
        pbx="pbx1", linkedid="1772416800.1", uniqueid="1772416800.1", direction="inbound",
        caller_number="+8613800138000", dialled_number="12345", arrived_at=NOW,
        category="complaint",
        legs=(LegRecord(uniqueid="1772416800.2", channel="PJSIP/1001-00000002", role="agent",
                        agent_id=amy, created_at=NOW),),
    )
    return [
        CallArrived(at=NOW, call_key=KEY, linkedid="1772416800.1", uniqueid="1772416800.1",
                    direction="inbound", caller_number="+8613800138000", dialled_number="12345",
                    channel="PJSIP/carrier-00000001"),
        CallOffered(at=NOW, call_key=KEY, agent_id=amy, extension="1001",
                    channel="PJSIP/1001-00000002"),
        AgentAnswered(at=NOW, call_key=KEY, agent_id=amy, extension="1001",
                      channel="PJSIP/1001-00000002", ring=3),
        CallUpdated(at=NOW, record=record),
        EscalationRaised(at=NOW, kind="extortion", message="勒索/敲诈来电",
                         data={"call_key": KEY}, escalation_id=7, call_key=KEY,
                         recipient_user_ids=(lead_user,)),
        CallEnded(at=NOW, call_key=KEY, disposition="answered", hangup_cause=16,
                  end_reason="caller-hangup", abnormal=False, agent_id=amy),
    ]


@pytest.fixture
async def bridge_process(engine: Engine, tmp_path: Path) -> AsyncIterator[Runtime]:
    """Process A as `hotline serve` wires it (bus, relay publisher, origin), with only the
    bus and the publisher running: the events are published on its bus by the test."""
    settings = Settings(
        var_dir=tmp_path, web={"session_secret": "test-session-secret-0123456789",
                               "port": free_port()},
        recordings={"store_dir": tmp_path / "rec", "spool_dir": tmp_path / "spool",
                    "cache_dir": tmp_path / "cache"},
    )
    runtime = Runtime.build(settings, engine, scheduler=False)
    assert runtime.relay is not None, "on PostgreSQL a bridge process publishes its live events"
    runtime.relay.start()
    await runtime.bus.start()
    try:
        yield runtime
    finally:
        await runtime.bus.stop()
        await runtime.relay.aclose()


async def test_a_web_only_worker_shows_another_processes_events_as_its_own_feed_would(
    bridge_process: Runtime, engine: Engine, sessions: sessionmaker[Session],
    users: dict[str, int],
) -> None:
    runtime = bridge_process
    settings_a = runtime.settings
    settings_b = settings_a.model_copy(
        update={"web": settings_a.web.model_copy(update={"port": free_port()})})
    with sessions() as s:
        amy = s.scalar(select(Agent.id).where(Agent.extension == "1001"))
    assert amy is not None
    async with (serving_web(settings_a, engine, runtime) as app_a,
                serving_web(settings_b, engine, None) as app_b,
                httpx.AsyncClient(timeout=10) as client):
        relay_a, relay_b = app_a.state.live_relay, app_b.state.live_relay
        await _until(lambda: relay_a.listening.is_set() and relay_b.listening.is_set(),
                     what="both listeners")
        url_a = f"http://127.0.0.1:{settings_a.web.port}/api/live"
        url_b = f"http://127.0.0.1:{settings_b.web.port}/api/live"
        streams = {
            "a_sup": Sse(client, url_a, _token(sessions, users["sup"])),
            "b_sup": Sse(client, url_b, _token(sessions, users["sup"])),
            "b_amy": Sse(client, url_b, _token(sessions, users["amy"])),
            "b_bob": Sse(client, url_b, _token(sessions, users["bob"])),
            "b_lead": Sse(client, url_b, _token(sessions, users["lead"])),
        }
        for stream in streams.values():
            await stream.hello()
        for event in _events(amy, users["lead"]):
            runtime.bus.publish(event)
        everything = ["call_arrived", "call_offered", "agent_answered", "call_updated",
                      "escalation_raised", "call_ended"]
        await _until(lambda: len(streams["b_sup"].kinds()) >= 5
                     and len(streams["a_sup"].kinds()) >= 5, what="the supervisors' events")
        await asyncio.sleep(0.5)  # room for a doubled event to show up
        # The worker's browsers get, once, the very JSON the bridge process's own feed sends
        # (its own events are not fed twice to A by its listener either).
        assert streams["a_sup"].kinds() == [k for k in everything if k != "escalation_raised"]
        assert streams["b_sup"].data() == streams["a_sup"].data()
        amy_events = dict(streams["b_amy"].data())
        assert streams["b_amy"].kinds() == ["call_offered", "agent_answered", "call_updated",
                                            "call_ended"]
        assert json.loads(amy_events["call_offered"])["caller_number"] == "+8613800138000"
        assert streams["b_bob"].kinds() == []
        assert "escalation_raised" in streams["b_lead"].kinds()
        assert relay_a.stats.own == len(everything) and relay_a.stats.delivered == 0

        # The server drops every relay connection (as on a failover): the feed comes back.
        with engine.begin() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'hotline-live-relay' AND pid <> pg_backend_pid()"
            )).scalar_one()
        assert killed >= 2
        await _until(lambda: relay_b.stats.connects >= 2 and relay_b.listening.is_set(),
                     what="the worker listening again")
        runtime.bus.publish(Alert(at=NOW, kind="phone-unregistered", message="1002 离线",
                                  data={"extension": "1002"}))
        await _until(lambda: streams["b_sup"].kinds()[-1:] == ["alert"],
                     what="the alert after reconnecting")
        assert streams["b_sup"].kinds().count("alert") == 1
        for stream in streams.values():
            await stream.close()


def _sup() -> Principal:
    return Principal(user_id=1, username="sup", display_name="sup", role=Role.SUPERVISOR,
                     agent_id=None, extension=None, via="token", client=None)


async def test_the_feed_resumes_after_the_server_restarts_and_losses_are_counted() -> None:
    server = PostgresServer().start()
    engine = make_engine(server.url())
    try:
        conninfo = conninfo_of(engine)
        feed = LiveFeed()
        publisher = LiveRelayPublisher(conninfo, origin="bridge-a", retry_seconds=0.2)
        publisher.start()
        listener = LiveRelayListener(conninfo, feed, backoff_min=0.1, backoff_max=0.5)
        with feed.listen(_sup()) as browser:
            async with listener:
                await asyncio.wait_for(listener.listening.wait(), 5)
                long_ok = "请" * 2_000  # 6,000 bytes of UTF-8: relayed whole
                assert publisher.offer({"type": "alert", "message": long_ok})
                got = await asyncio.wait_for(browser.queue.get(), 5)
                assert got == {"type": "alert", "message": long_ok}
                assert not publisher.offer({"type": "alert", "message": "请" * 3_000})
                assert publisher.stats.dropped_oversize == 1

                await asyncio.to_thread(server.stop)
                started = time.monotonic()
                for n in range(50):  # the bus's handler returns at once while the server is away
                    publisher.handle(Alert(at=NOW, kind="test", message=f"away {n}"))
                assert time.monotonic() - started < 0.5
                await _until(lambda: publisher.stats.dropped_offline == 50, what="drops")
                assert not listener.listening.is_set()

                await asyncio.to_thread(server.restart)
                await asyncio.wait_for(listener.listening.wait(), 10)
                publisher.handle(Alert(at=NOW, kind="test", message="back"))
                got = await asyncio.wait_for(browser.queue.get(), 5)
                assert got["message"] == "back"
                # What browsers missed (the oversize one, the 50 sent while away) is known.
                assert listener.stats.missed == publisher.stats.dropped == 51
                assert browser.queue.empty()
        publisher.stop()
        assert publisher.stats.sent == 2
    finally:
        engine.dispose()
        server.cleanup()


def test_without_the_relay_a_web_process_keeps_to_its_own_feed(
    engine: Engine, sqlite_engine: Engine, tmp_path: Path
) -> None:
    off = Settings(var_dir=tmp_path, web={"live_relay": "off"})
    assert Runtime.build(off, engine, scheduler=False).relay is None
    assert Runtime.build(Settings(var_dir=tmp_path), sqlite_engine, scheduler=False).relay is None
    with pytest.raises(ConfigError, match=r"web\.live_relay: Input should be 'auto' or 'off'"):
        load_settings(web={"live_relay": "on"})


def test_hotline_web_help_says_what_it_runs() -> None:
    result = CliRunner().invoke(cli, ["web", "--help"])
    assert result.exit_code == 0
    assert "no AMI bridge" in result.output and "503" in result.output


def test_hotline_web_serves_pages_and_the_relayed_feed_then_stops_on_sigint(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], users: dict[str, int],
    tmp_path: Path,
) -> None:
    port = free_port()
    (tmp_path / "hotline.toml").write_text("")  # none of the developer's own configuration
    env = {**os.environ, "HOTLINE_DATABASE__URL": db_url, "HOTLINE_CONFIG": str(tmp_path / "hotline.toml"),
           "HOTLINE_WEB__SESSION_SECRET": "test-session-secret-0123456789"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "hotline"), "web", "--port", str(port)], cwd=REPO,
        env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    publisher = LiveRelayPublisher(conninfo_of(engine), origin="bridge-a")
    publisher.start()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                page = httpx.get(f"{base}/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "hotline web did not listen"
                time.sleep(0.1)
        assert page.status_code == 200 and "<form" in page.text
        control = httpx.post(f"{base}/api/desk/state", json={"state": "ready"},
                             headers={"Authorization": f"Bearer {_token(sessions, users['amy'])}"})
        assert control.status_code == 503 and "AMI bridge" in control.text
        headers = {"Authorization": f"Bearer {_token(sessions, users['sup'])}"}
        received = threading.Event()

        def bridge_side() -> None:  # the worker's listener may still be connecting: repeat
            n = 0
            while not received.wait(0.2):
                n += 1
                publisher.offer({"type": "alert", "kind": "test", "message": f"#{n}"})

        sender = threading.Thread(target=bridge_side, daemon=True)
        sender.start()
        with httpx.stream("GET", f"{base}/api/live", headers=headers, timeout=10) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data: ") and '"type":"alert"' in line.replace(" ", ""):
                    assert json.loads(line[6:])["message"].startswith("#")
                    received.set()
                    break
        sender.join()
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert time.monotonic() - started < 5
        assert proc.returncode == 0, proc.stdout.read() if proc.stdout else ""
    finally:
        publisher.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_on_sqlite_a_web_only_worker_has_no_live_feed_and_says_so(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    from hotline.db.session import session_factory
    from tests.factories import make_user

    sqlite_sessions = session_factory(sqlite_engine)
    with sqlite_sessions.begin() as s:
        sup = make_user(s, "sup", "supervisor").id
    settings = Settings(var_dir=tmp_path, web={"port": free_port()})
    async with serving_web(settings, sqlite_engine, None) as app:
        assert app.state.live_relay is None
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(f"http://127.0.0.1:{settings.web.port}/api/live", headers={
                "Authorization": f"Bearer {_token(sqlite_sessions, sup)}"})
    assert r.status_code == 503 and "no live events" in r.json()["detail"]
