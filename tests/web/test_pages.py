"""The pages as a browser gets them (server-rendered HTML): login form with its own CSRF
guard, home redirect by role, desk, wallboard, reports with table, charts and exports."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import TEST_PASSWORD
from tests.reports.test_call_figures import build_march


@pytest.fixture
def db_kind() -> str:
    return "sqlite"  # pages render what the API tests check on both databases


def _form_login(client: TestClient, username: str, password: str = TEST_PASSWORD,
                next_url: str = ""):  # type: ignore[no-untyped-def]
    page = client.get("/login" + (f"?next={next_url}" if next_url else ""))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token[1], "next": next_url},
                       follow_redirects=False)


def test_login_form_logs_in_and_goes_where_it_was_asked(anon: TestClient) -> None:
    r = _form_login(anon, "amy", next_url="/desk")
    assert r.status_code == 303 and r.headers["location"] == "/desk"
    assert anon.get("/desk").status_code == 200


def test_login_form_refuses_a_cross_site_post(anon: TestClient) -> None:
    r = anon.post("/login", data={"username": "amy", "password": TEST_PASSWORD,
                                  "csrf_token": "guessed"}, follow_redirects=False)
    assert r.status_code == 403 and "expired" in r.text
    assert anon.get("/api/auth/me").status_code == 401


def test_login_form_errors_are_shown(anon: TestClient) -> None:
    r = _form_login(anon, "amy", "wrong password")
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    for _ in range(2):
        _form_login(anon, "amy", "wrong password")
    r = _form_login(anon, "amy")
    assert r.status_code == 429 and "try again in" in r.text and r.headers["Retry-After"]


@pytest.mark.parametrize("user, home", [("amy", "/desk"), ("lead", "/desk"),
                                        ("sup", "/reports"), ("admin", "/reports")])
def test_home_goes_to_the_role_page(app: FastAPI, user: str, home: str) -> None:
    with TestClient(app, follow_redirects=False) as c:
        _form_login(c, user)
        assert c.get("/").headers["location"] == home


def test_desk_page(login) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    page = amy.get("/desk")
    assert page.status_code == 200
    assert f'<meta name="csrf-token" content="{amy.csrf}">' in page.text
    assert "您好!请问有什么可以帮到您?" in page.text and "Hello! How may I help you?" in page.text
    assert 'data-tz-offset="+08:00"' in page.text
    for form in ("note-form", "case-form", "complaint-form", "callback-form"):
        assert f'id="{form}"' in page.text
    for reason in ("abusive", "extortion", "other"):  # enabled when a call is on the desk
        assert f'data-flag="{reason}" disabled' in page.text
    assert 'id="flag-blacklist"' in page.text


def test_reports_page_shows_table_charts_and_exports(login, sessions: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        build_march(s)
    sup = login("sup")
    page = sup.get("/reports?report=calls&start=2026-03-01&end=2026-03-31&group=hour_of_day")
    assert page.status_code == 200
    assert "呼入统计(按时段) inbound calls by hour of day" in page.text
    assert "/api/reports/charts/volume.svg?start=2026-03-01&amp;end=2026-03-31" in page.text
    assert "format=csv" in page.text and "format=xlsx" in page.text
    assert "71.4%" in page.text  # the period's service level in the total row
    rings = sup.get("/reports?report=rings&start=2026-03-01&end=2026-03-31")
    assert "charts/rings.svg" in rings.text
    bad = sup.get("/reports?start=2026-03-31&end=2026-03-01")
    assert bad.status_code == 422 and "end: must not be before start" in bad.text


def test_wallboard_and_digest_pages(login) -> None:  # type: ignore[no-untyped-def]
    assert "监控墙 Wallboard" in login("lead").get("/wallboard").text
    page = login("sup").get("/digests")
    assert page.status_code == 200 and "20:15" in page.text


def test_wallboard_figures(bearer, sessions: sessionmaker[Session], clock) -> None:  # type: ignore[no-untyped-def]
    from hotline.domain.enums import CallDisposition
    from tests.reports.scenario import add_call, local

    with sessions.begin() as s:
        add_call(s, local("2026-03-02 09:00"), disposition=CallDisposition.ABANDONED)
        add_call(s, local("2026-03-02 09:59:00"), disposition=None, rings=None, ended=False)
    w = bearer("lead").get("/api/wallboard").json()
    assert w["calls_waiting"] == 1 and w["longest_wait_seconds"] == 60.0
    assert w["today"]["offered"] == 2 and w["today"]["abandoned"] == 1
    assert w["agents_by_state"]["logged_out"] == 3
