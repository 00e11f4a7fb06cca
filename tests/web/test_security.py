"""Every route is gated by role and refuses anonymous requests; each role reaches exactly
the routes its gate admits. The routes are enumerated from the app itself, so a route added
later without a gate fails here."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hotline.domain.enums import Role
from tests.web.helpers import Gated, gated_routes

# The only routes open to anonymous requests.
PUBLIC = {("GET", "/healthz"), ("POST", "/api/auth/login"), ("GET", "/login"),
          ("POST", "/login")}
ROLE_USER = {Role.AGENT: "amy", Role.TEAM_LEADER: "lead", Role.SUPERVISOR: "sup",
             Role.ADMIN: "admin"}


@pytest.fixture
def db_kind() -> str:
    """Who may call what does not depend on the database: SQLite only."""
    return "sqlite"


def _url(path: str) -> str:
    def fill(m: re.Match[str]) -> str:
        return "2026-03-02" if m.group(1) == "day" else "1"

    return re.sub(r"\{(\w+)\}", fill, path)


def _request(client: TestClient, route: Gated, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.request(route.method, _url(route.path), headers=headers or {},
                          follow_redirects=False)


def test_every_route_has_a_role_gate(app: FastAPI) -> None:
    routes = gated_routes(app)
    assert len(routes) > 50
    # the recordings part's routes are mounted behind the web app's gate too
    recordings = {(r.method, r.path) for r in routes if r.path.startswith("/api/recordings")}
    assert {("GET", "/api/recordings/{recording_id}/stream"),
            ("GET", "/api/recordings/{recording_id}/download"),
            ("POST", "/api/recordings/flags")} <= recordings
    ungated = {(r.method, r.path) for r in routes if r.gate is None}
    assert ungated == PUBLIC


def test_every_route_refuses_anonymous_requests(app: FastAPI, anon: TestClient) -> None:
    for route in gated_routes(app):
        if (route.method, route.path) in PUBLIC:
            continue
        r = _request(anon, route)
        assert route.gate is not None
        if route.gate.page:
            assert r.status_code == 303, (route, r.status_code)
            assert r.headers["location"].startswith("/login?next=")
        else:
            assert r.status_code == 401, (route, r.status_code, r.text)
            assert r.headers["www-authenticate"] == "Bearer"


def test_static_files_and_health_are_open(anon: TestClient) -> None:
    assert anon.get("/healthz").json() == {"status": "ok"}
    assert anon.get("/static/hotline.js").status_code == 200
    assert anon.get("/login").status_code == 200


def test_each_role_reaches_only_its_routes(app: FastAPI, login) -> None:  # type: ignore[no-untyped-def]
    sessions = {role: login(name) for role, name in ROLE_USER.items()}
    for route in gated_routes(app):
        if route.gate is None or route.path == "/api/auth/logout":  # would end the session
            continue
        for role, who in sessions.items():
            r = _request(who.client, route, {"X-CSRF-Token": who.csrf})
            if role in route.roles:
                assert r.status_code != 403 or "agent seat" in r.text, (role, route, r.text)
            else:
                assert r.status_code == 403, (role, route, r.status_code)


def test_an_agent_cannot_reach_supervisor_routes(app: FastAPI, login) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    supervisor_only = [r for r in gated_routes(app) if r.gate and Role.AGENT not in r.roles]
    paths = {r.path for r in supervisor_only}
    assert {"/api/reports/calls", "/api/wallboard", "/api/digests", "/api/blacklist",
            "/api/tokens", "/reports", "/wallboard", "/api/escalations",
            "/api/escalations/{escalation_id}/acknowledge"} <= paths
    for route in supervisor_only:
        assert _request(amy.client, route, {"X-CSRF-Token": amy.csrf}).status_code == 403, route


def test_forbidden_page_is_a_page(login) -> None:  # type: ignore[no-untyped-def]
    r = login("amy").client.get("/reports")
    assert r.status_code == 403 and "权限不足" in r.text


def test_api_description_needs_login(anon: TestClient, login) -> None:  # type: ignore[no-untyped-def]
    assert anon.get("/api/openapi.json").status_code == 401
    assert anon.get("/openapi.json").status_code == 404
    assert anon.get("/docs").status_code == 404
    spec = login("amy").get("/api/openapi.json").json()
    assert "/api/customers/card" in spec["paths"]


def test_login_redirect_stays_on_this_site(anon: TestClient) -> None:
    page = anon.get("/login?next=https://evil.example/")
    assert 'name="next" value=""' in page.text
    page = anon.get("/login?next=//evil.example/")
    assert 'name="next" value=""' in page.text
