"""Schemathesis reads the app's OpenAPI description and throws generated requests (valid and
invalid) at every operation; no answer may be a 5xx. Requests are authenticated as an admin,
and as a team leader with an agent seat for the desk routes admins may not use. Run on both
databases: PostgreSQL refuses values SQLite takes (NUL characters, integer overflow, over-long
strings), which is where unvalidated input would turn into a 500.

The app has every service (event bus, an in-test AgentControl), so a 503 "not running"
cannot hide a route. Each operation is its own test: operations are listed from an app on an
in-memory database at collection time, then fetched from the tested app's description.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.accounts.tokens import issue_token
from hotline.bus import EventBus
from hotline.db.models import Customer
from hotline.db.session import make_engine
from hotline.domain.enums import CallDisposition, Role
from hotline.settings import Settings
from hotline.web.app import create_app
from hotline.web.services import WebServices
from tests.reports.scenario import add_call, local
from tests.web.conftest import Clock
from tests.web.helpers import RecordingAgentControl, gated_routes

# The description depends on the code only, and building it costs ~1 s: build it once.
SPEC = create_app(Settings(), make_engine("sqlite://")).openapi()


def _operation_labels() -> list[str]:
    schema = schemathesis.openapi.from_dict(SPEC)
    return sorted(op.ok().label for op in schema.get_all_operations())


@pytest.fixture
def app(web_settings: Settings, engine: Engine, clock: Clock, users: dict[str, int]) -> FastAPI:
    services = WebServices(bus=EventBus(), agent_control=RecordingAgentControl(), clock=clock,
                           live_stream_seconds=0.2)
    return create_app(web_settings, engine, services)


@pytest.fixture
def headers(sessions: sessionmaker[Session], users: dict[str, int]) -> dict[str, dict[str, str]]:
    out = {}
    with sessions.begin() as s:
        for name in ("admin", "lead"):
            issued = issue_token(s, user_id=users[name], name="schemathesis",
                                 created_by_id=users["admin"])
            out[name] = {"Authorization": f"Bearer {issued.secret}"}
        # Some rows to find, so reads by id reach past "not found".
        s.add(Customer(phone="+8613800138000", name="王小明", is_member=True))
        add_call(s, local("2026-03-02 09:00"), disposition=CallDisposition.MISSED)
    return out


@pytest.mark.parametrize("label", _operation_labels())
def test_no_server_errors(label: str, app: FastAPI, headers: dict[str, dict[str, str]]) -> None:
    schema = schemathesis.openapi.from_dict(SPEC)
    schema.app = app  # requests go to the app in process (ASGI)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    gate = {(g.method, g.path): g for g in gated_routes(app)}[(operation.method.upper(),
                                                              operation.path)]
    who = headers["admin"] if gate.gate is None or Role.ADMIN in gate.roles else headers["lead"]

    @given(case=operation.as_strategy())
    @settings(max_examples=8, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=who, checks=[not_a_server_error])

    run()
