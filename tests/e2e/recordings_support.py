"""What the recordings end-to-end tests share: the recordings API as the web app mounts it
(with a stand-in for its sign-in), and waiting on what the simulated PBX does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import FastAPI, Header, HTTPException
from sqlalchemy import select

from hotline.db.models import Recording, User
from hotline.db.session import session_factory
from hotline.domain.events import DomainEvent
from pbxsim import CallHandle
from recordings.http import create_router
from tests.e2e.stack import Stack


def recordings_api(stack: Stack) -> httpx.AsyncClient:
    """``recordings.http``'s router over the running RecordingService; ``X-User: <username>``
    stands in for the web app's session (the router reads the user's role again itself)."""
    sessions = session_factory(stack.engine)

    def current_user(x_user: str = Header(default="")) -> User:
        with sessions() as s:
            user = s.scalar(select(User).where(User.username == x_user))
        if user is None:
            raise HTTPException(401, "sign in first")
        return user

    app = FastAPI()
    app.include_router(create_router(stack.runtime.recordings, current_user))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hotline.test")


def as_(username: str) -> dict[str, str]:
    return {"X-User": username}


async def wait_for(what: str, predicate: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def talking(call: CallHandle) -> bool:
    """The caller is in a bridge with someone (an agent), as the PBX sees it."""
    chan = call.channel
    return chan.bridge is not None and not chan.hungup and len(chan.bridge.channels) == 2


def call_key(call: CallHandle) -> str:
    return f"pbx1:{call.channel.linkedid}"


def spool_files(stack: Stack) -> list[Path]:
    spool = stack.settings.recordings.spool_dir
    return sorted(p for p in spool.iterdir() if p.is_file()) if spool.is_dir() else []


def store_files(stack: Stack) -> list[Path]:
    store = stack.settings.recordings.store_dir
    return sorted(p for p in store.rglob("*") if p.is_file()) if store.is_dir() else []


def stored_recordings(stack: Stack) -> list[Recording]:
    with session_factory(stack.engine)() as s:
        return list(s.scalars(select(Recording).order_by(Recording.id)))


class Heard:
    """Every event of the given kinds the bus carried while the test ran."""

    def __init__(self, stack: Stack, *kinds: type[DomainEvent]) -> None:
        self.events: list[DomainEvent] = []
        stack.runtime.bus.subscribe("e2e-test", self._got, kinds=kinds)

    async def _got(self, event: DomainEvent) -> None:
        self.events.append(event)
