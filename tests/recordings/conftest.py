from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import User
from hotline.db.session import transaction
from hotline.domain.enums import AgentState, Role
from recordings.access import Actor
from recordings.service import RecordingService
from tests.factories import make_user
from tests.recordings.helpers import FakeCall, FakeClock, RecordingPbx, make_settings


class People:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        with transaction(sessions) as s:
            self.agent = self._actor(make_user(s, "li.na", Role.AGENT, "1001"))
            self.other_agent = self._actor(make_user(s, "wang.wei", Role.AGENT, "1002"))
            leader = make_user(s, "zhao.lei", Role.TEAM_LEADER, "1090")
            leader.agent.state = AgentState.READY  # logged in: on duty
            self.leader = self._actor(leader)
            off_duty = make_user(s, "qian.jun", Role.TEAM_LEADER, "1091")
            self.off_duty_leader = self._actor(off_duty)
            self.supervisor = self._actor(make_user(s, "sun.mei", Role.SUPERVISOR))
            self.admin = self._actor(make_user(s, "zhou.admin", Role.ADMIN))

    @staticmethod
    def _actor(user: User) -> Actor:
        return Actor(user.id, user.role, user.agent.id if user.agent else None, "127.0.0.1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pbx() -> RecordingPbx:
    return RecordingPbx()


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> People:
    return People(sessions)


@pytest.fixture
def service(tmp_path: Path, sessions: sessionmaker[Session], pbx: RecordingPbx,
            clock: FakeClock) -> RecordingService:
    return RecordingService(make_settings(tmp_path), sessions, pbx=pbx, clock=clock)


@pytest.fixture
def new_call(service: RecordingService, sessions: sessionmaker[Session], clock: FakeClock,
             people: People):  # type: ignore[no-untyped-def]
    counter = iter(range(12, 10_000))

    def make(**kw) -> FakeCall:  # type: ignore[no-untyped-def]
        kw.setdefault("agent_id", people.agent.agent_id)
        return FakeCall(service, sessions, clock, f"1795390253.{next(counter)}", **kw)

    return make
