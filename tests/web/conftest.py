"""A web app on a real database (SQLite and PostgreSQL), users of every role, and clients
logged in as each: by session (with the CSRF token a page would send) or by bearer token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.accounts import passwords
from hotline.accounts.tokens import issue_token
from hotline.settings import Settings
from hotline.web.app import create_app
from hotline.web.auth import login as login_module
from hotline.web.services import ThrottlePolicy, WebServices
from tests.factories import TEST_PASSWORD, make_user

USERS = (
    ("admin", "admin", None),
    ("sup", "supervisor", None),
    ("lead", "team_leader", "1009"),
    ("amy", "agent", "1001"),
    ("bob", "agent", "1002"),
)


@dataclass
class Clock:
    """A settable clock for the app; starts at a fixed working-day morning in Shanghai."""

    now: dt.datetime = field(
        default_factory=lambda: dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 +08
    )

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web_settings() -> Settings:
    return Settings(web={"session_secret": "test-session-secret-0123456789"})


# argon2 with its production parameters costs ~0.4 s per login on a 2-core machine; the web
# tests log in hundreds of times, so they hash and verify with small parameters. The code path
# (argon2id through hotline.accounts.passwords) is the same.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
FAST_HASH = FAST_HASHER.hash(TEST_PASSWORD)


@pytest.fixture(autouse=True)
def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", FAST_HASHER)
    monkeypatch.setattr(login_module, "_DUMMY_HASH", FAST_HASHER.hash("timing only"))


@pytest.fixture
def users(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as s:
        made = {name: make_user(s, name, role, ext) for name, role, ext in USERS}
        for user in made.values():
            user.password_hash = FAST_HASH
        s.flush()
        return {name: user.id for name, user in made.items()}


@pytest.fixture
def services(clock: Clock) -> WebServices:
    return WebServices(clock=clock, login_throttle=ThrottlePolicy(base_delay=30.0))


@pytest.fixture
def app(web_settings: Settings, engine: Engine, services: WebServices,
        users: dict[str, int]) -> FastAPI:
    return create_app(web_settings, engine, services)


class Session_:
    """A logged-in browser: cookie kept by the client, CSRF token sent on writes."""

    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    def get(self, url: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.get(url, **kw)

    def post(self, url: str, json: object = None, **kw):  # type: ignore[no-untyped-def]
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.post(url, json=json, headers=headers, **kw)

    def delete(self, url: str, **kw):  # type: ignore[no-untyped-def]
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.delete(url, headers=headers, **kw)


@pytest.fixture
def login(app: FastAPI) -> Iterator:  # type: ignore[type-arg]
    clients: list[TestClient] = []

    def _login(username: str) -> Session_:
        client = TestClient(app)
        clients.append(client)
        r = client.post("/api/auth/login", json={"username": username,
                                                 "password": TEST_PASSWORD})
        assert r.status_code == 200, r.text
        return Session_(client, r.json()["csrf_token"])

    yield _login
    for c in clients:
        c.close()


@pytest.fixture
def bearer(app: FastAPI, sessions: sessionmaker[Session], users: dict[str, int]) -> Iterator:  # type: ignore[type-arg]
    clients: list[TestClient] = []

    def _bearer(username: str) -> TestClient:
        with sessions.begin() as s:
            issued = issue_token(s, user_id=users[username], name=f"test {username}",
                                 created_by_id=users["admin"])
        client = TestClient(app, headers={"Authorization": f"Bearer {issued.secret}"})
        clients.append(client)
        return client

    yield _bearer
    for c in clients:
        c.close()


@pytest.fixture
def anon(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client
