"""The agent desk: state through the bridge's AgentControl (503 when the bridge is not there),
missed calls since the last logout, today's follow-ups, callbacks and scripts."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import Agent, Case, Complaint, OutboundTask, User
from hotline.domain.enums import CallDisposition, TaskStatus, TaskType
from hotline.settings import Settings
from hotline.web.app import create_app
from hotline.web.services import WebServices
from tests.factories import TEST_PASSWORD
from tests.reports.scenario import LegSpec, add_call, local
from tests.web.conftest import Clock
from tests.web.helpers import RecordingAgentControl


def _session(app: FastAPI, username: str) -> tuple[TestClient, str]:
    client = TestClient(app)
    r = client.post("/api/auth/login", json={"username": username, "password": TEST_PASSWORD})
    assert r.status_code == 200
    return client, r.json()["csrf_token"]


@pytest.fixture
def control() -> RecordingAgentControl:
    return RecordingAgentControl()


@pytest.fixture
def desk_app(web_settings: Settings, engine: Engine, clock: Clock, users: dict[str, int],
             control: RecordingAgentControl) -> FastAPI:
    return create_app(web_settings, engine, WebServices(agent_control=control, clock=clock))


def test_state_changes_go_to_the_bridge(desk_app: FastAPI, control: RecordingAgentControl,
                                        sessions: sessionmaker[Session]) -> None:
    client, csrf = _session(desk_app, "amy")
    h = {"X-CSRF-Token": csrf}
    with sessions() as s:
        amy_agent = s.scalar(select(Agent.id).where(Agent.extension == "1001"))
    assert client.post("/api/desk/login", headers=h).json()["requested"] == "logged_in"
    assert client.post("/api/desk/state", json={"state": "ready"}, headers=h).status_code == 200
    r = client.post("/api/desk/state", json={"state": "paused", "reason": "培训 training"},
                    headers=h)
    assert r.json() == {"agent_id": amy_agent, "requested": "paused", "reason": "培训 training"}
    no_reason = client.post("/api/desk/state", json={"state": "paused"}, headers=h)
    assert no_reason.status_code == 422 and no_reason.json()["detail"][0]["field"] == "reason"
    bad = client.post("/api/desk/state", json={"state": "sleeping"}, headers=h)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "state"
    assert client.post("/api/desk/logout", headers=h).status_code == 200
    assert control.calls == [("log_in", amy_agent, None), ("ready", amy_agent, None),
                             ("pause", amy_agent, "培训 training"), ("log_out", amy_agent, None)]


def test_without_the_bridge_state_answers_503(login) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    r = amy.post("/api/desk/state", json={"state": "ready"})
    assert r.status_code == 503 and "bridge" in r.json()["detail"]


def test_a_failing_bridge_is_502_not_500(web_settings: Settings, engine: Engine, clock: Clock,
                                         users: dict[str, int]) -> None:
    app = create_app(web_settings, engine,
                     WebServices(agent_control=RecordingAgentControl(fail=True), clock=clock))
    client, csrf = _session(app, "amy")
    r = client.post("/api/desk/state", json={"state": "ready"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 502 and "AMI link down" in r.json()["detail"]


def test_users_without_a_seat_have_no_desk(login) -> None:  # type: ignore[no-untyped-def]
    sup = login("sup")
    r = sup.get("/api/desk")
    assert r.status_code == 403 and "agent seat" in r.json()["detail"]


def test_missed_calls_since_last_logout(login, sessions: sessionmaker[Session], clock: Clock) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        amy = s.scalar(select(Agent).where(Agent.extension == "1001"))
        bob = s.scalar(select(Agent).where(Agent.extension == "1002"))
        amy.last_logout_at = local("2026-03-01 20:00")
        # Before the logout: not shown.
        add_call(s, local("2026-03-01 19:00"), disposition=CallDisposition.MISSED, caller="+8613900000001")
        # After: missed (rang amy), abandoned, callback requested, then one answered later.
        add_call(s, local("2026-03-01 20:30"), disposition=CallDisposition.MISSED,
                 caller="+8613900000002", legs=(LegSpec(amy, "NOANSWER"),))
        add_call(s, local("2026-03-02 08:05"), disposition=CallDisposition.ABANDONED,
                 caller="+8613900000003")
        add_call(s, local("2026-03-02 08:10"), disposition=CallDisposition.CALLBACK_REQUESTED,
                 caller="+8613900000004")
        add_call(s, local("2026-03-02 08:20"), agent=bob, wait=10, talk=30, caller="+8613900000003")
        # Served by the IVR, and answered: neither is missed.
        add_call(s, local("2026-03-02 08:30"), disposition=CallDisposition.IVR_ONLY)
        add_call(s, local("2026-03-02 08:40"), agent=bob, wait=5, talk=10)
        s.add(OutboundTask(type=TaskType.REQUESTED, phone="+8613900000004", due_at=clock.now,
                           created_at=local("2026-03-02 08:15")))
    desk = login("amy").get("/api/desk").json()
    assert desk["missed_since"] == "2026-03-01T20:00:00+08:00"
    missed = [(m["call"]["caller_number"], m["rang_me"], m["followed_up"])
              for m in desk["missed_calls"]]
    assert missed == [("+8613900000004", False, True),   # callback task created after it
                      ("+8613900000003", False, True),   # the caller got through later
                      ("+8613900000002", True, False)]


def test_never_logged_out_shows_today(login, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        add_call(s, local("2026-03-01 23:00"), disposition=CallDisposition.MISSED)
        add_call(s, local("2026-03-02 00:30"), disposition=CallDisposition.MISSED)
    desk = login("amy").get("/api/desk").json()
    assert desk["missed_since"] == "2026-03-02T00:00:00+08:00"
    assert len(desk["missed_calls"]) == 1


def test_todays_follow_ups(login, sessions: sessionmaker[Session], clock: Clock) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        amy = s.scalar(select(Agent).where(Agent.extension == "1001"))
        amy_user = s.scalar(select(User).where(User.username == "amy"))
        for due, status in (("2026-03-01 10:00", TaskStatus.PENDING),   # overdue
                            ("2026-03-02 15:00", TaskStatus.PENDING),   # today
                            ("2026-03-03 09:00", TaskStatus.PENDING),   # tomorrow
                            ("2026-03-02 09:00", TaskStatus.DONE)):     # done
            s.add(OutboundTask(type=TaskType.FOLLOW_UP, phone="+8613800138000", agent_id=amy.id,
                               due_at=local(due), status=status))
        for due in ("2026-03-02 18:00", "2026-03-04 18:00"):
            s.add(Case(created_by_id=amy_user.id, owner_id=amy_user.id,
                       occurred_at=local("2026-02-28 10:00"), place="x", person="x", event=due,
                       contact_phone="+8613800138000", created_at=local(due) - dt.timedelta(hours=48),
                       reply_due_at=local(due)))
        s.add(Complaint(created_by_id=amy_user.id, owner_id=amy_user.id, description="逾期",
                        received_at=local("2026-02-26 10:00"), due_at=local("2026-03-02 10:00")))
    f = login("amy").get("/api/desk").json()["follow_ups"]
    assert [t["due_at"] for t in f["tasks"]] == ["2026-03-01T10:00:00+08:00",
                                                  "2026-03-02T15:00:00+08:00"]
    assert [c["event"] for c in f["cases"]] == ["2026-03-02 18:00"]
    assert [c["description"] for c in f["complaints"]] == ["逾期"]


def test_callback_creates_a_requested_task_for_the_agent(login, sessions: sessionmaker[Session],
                                                         clock: Clock) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    r = amy.post("/api/callbacks", json={"phone": "139 1234 5678",
                                         "due_at": "2026-03-02T15:00:00+08:00"})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["type"] == "requested" and task["phone"] == "+8613912345678"
    assert task["due_at"] == "2026-03-02T15:00:00+08:00"
    assert task["deadline_at"] == "2026-03-04T15:00:00+08:00"
    with sessions() as s:
        row = s.get(OutboundTask, task["id"])
        assert row.agent_id == s.scalar(select(Agent.id).where(Agent.extension == "1001"))
    past = amy.post("/api/callbacks", json={"phone": "13912345678",
                                            "due_at": "2026-03-01T15:00:00+08:00"})
    assert past.status_code == 422 and past.json()["detail"][0]["field"] == "due_at"
    assert login("sup").post("/api/callbacks", json={"phone": "13912345678"}).status_code == 403


def test_scripts_are_mandarin_first_with_english(login) -> None:  # type: ignore[no-untyped-def]
    scripts = login("amy").get("/api/scripts").json()
    ids = {s["id"] for s in scripts}
    assert ids == {f"S{i}" for i in range(1, 17)}
    greeting = next(s for s in scripts if s["id"] == "S1")
    assert greeting["zh"] == ["您好!请问有什么可以帮到您?"]
    assert greeting["en"] == ["Hello! How may I help you?"]
    warning = next(s for s in scripts if s["id"] == "S15")
    assert "文明用语" in warning["zh"][0]
