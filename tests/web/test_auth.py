"""Logging in with a password, sessions with CSRF protection, bearer tokens, and the
slow-down of repeated failed logins (which survives a restart of the app)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from hotline.db.models import ApiToken, AuditLog, User, WebSession
from hotline.settings import Settings
from hotline.web.app import create_app
from hotline.web.services import ThrottlePolicy, WebServices
from tests.factories import TEST_PASSWORD
from tests.web.conftest import Clock


def test_login_sets_session_and_me_answers(anon: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    r = anon.post("/api/auth/login", json={"username": "amy", "password": TEST_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["username"] == "amy" and body["user"]["extension"] == "1001"
    assert len(body["csrf_token"]) >= 32
    cookie = r.cookies.get("hotline_session")
    assert cookie and "HttpOnly" in r.headers["set-cookie"]
    assert "samesite=lax" in r.headers["set-cookie"].lower()
    me = anon.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["role"] == "agent"
    with sessions() as s:
        row = s.scalar(select(WebSession))
        assert row is not None and cookie not in (row.token_hash, row.csrf_token)
        actions = [a.action for a in s.scalars(select(AuditLog))]
    assert "login" in actions


def test_wrong_password_is_401_and_audited(anon: TestClient, sessions) -> None:  # type: ignore[no-untyped-def]
    r = anon.post("/api/auth/login", json={"username": "amy", "password": "nope-nope"})
    assert r.status_code == 401 and "wrong username or password" in r.json()["detail"]
    assert anon.post("/api/auth/login", json={"username": "ghost", "password": "x"}).status_code == 401
    with sessions() as s:
        failed = s.scalars(select(AuditLog).where(AuditLog.action == "login.failed")).all()
    assert [f.details["reason"] for f in failed] == ["wrong password", "unknown user"]
    assert all("nope" not in str(f.details) for f in failed)


def test_state_change_needs_the_csrf_token(login) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    body = {"category": "inquiry", "content": "问营业时间", "outcome": "accepted"}
    refused = amy.client.post("/api/notes", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = amy.client.post("/api/notes", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert amy.post("/api/notes", json=body).status_code == 201


def test_logout_ends_the_session_server_side(login) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    stolen = dict(amy.client.cookies)
    assert amy.post("/api/auth/logout").status_code == 204
    assert amy.get("/api/auth/me").status_code == 401
    with TestClient(amy.client.app, cookies=stolen) as replay:
        assert replay.get("/api/auth/me").status_code == 401


def test_deactivated_user_is_out_at_the_next_request(login, sessions) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    with sessions.begin() as s:
        s.scalar(select(User).where(User.username == "amy")).active = False
    assert amy.get("/api/auth/me").status_code == 401


def test_forged_cookie_is_refused(anon: TestClient) -> None:
    anon.cookies.set("hotline_session", "eyJmYWtlIjoxfQ.forged.sig")
    assert anon.get("/api/auth/me").status_code == 401


def test_bearer_token_works_without_csrf_and_is_stored_hashed(bearer, sessions) -> None:  # type: ignore[no-untyped-def]
    client = bearer("amy")
    secret = client.headers["Authorization"].split()[1]
    r = client.post("/api/notes", json={"category": "inquiry", "content": "接口写入",
                                        "outcome": "accepted"})
    assert r.status_code == 201
    with sessions() as s:
        tokens = s.scalars(select(ApiToken)).all()
    assert all(secret not in (t.token_hash, t.prefix) for t in tokens)
    assert tokens[0].last_used_at is not None


def test_bad_or_revoked_token_is_401(bearer, login, anon: TestClient) -> None:  # type: ignore[no-untyped-def]
    anon.headers["Authorization"] = "Bearer htl_not-a-real-token"
    assert anon.get("/api/auth/me").status_code == 401
    anon.headers["Authorization"] = "Basic YWRtaW46YWRtaW4="
    assert anon.get("/api/auth/me").status_code == 401
    client = bearer("amy")
    admin = login("admin")
    token_id = admin.get("/api/tokens").json()[0]["id"]
    assert admin.delete(f"/api/tokens/{token_id}").json()["revoked_at"] is not None
    assert client.get("/api/auth/me").status_code == 401


def test_admin_creates_a_token_shown_once(login) -> None:  # type: ignore[no-untyped-def]
    admin = login("admin")
    users = {u["username"]: u["id"] for u in admin.get("/api/users").json()}
    r = admin.post("/api/tokens", json={"user_id": users["sup"], "name": "BI export",
                                        "expires_days": 30})
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("htl_") and r.json()["prefix"] == token[:10]
    listed = admin.get("/api/tokens").json()
    assert all("token" not in t for t in listed)
    with TestClient(admin.client.app, headers={"Authorization": f"Bearer {token}"}) as bi:
        assert bi.get("/api/auth/me").json()["username"] == "sup"
        assert bi.get("/api/reports/calls").status_code == 200
    bad = admin.post("/api/tokens", json={"user_id": 999999, "name": "x"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "user_id"


def test_token_expires(login, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    admin = login("admin")
    users = {u["username"]: u["id"] for u in admin.get("/api/users").json()}
    token = admin.post("/api/tokens", json={"user_id": users["amy"], "name": "short",
                                            "expires_days": 1}).json()["token"]
    with TestClient(admin.client.app, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get("/api/auth/me").status_code == 200
        clock.advance(days=1, seconds=1)
        assert c.get("/api/auth/me").status_code == 401


def _attempt(client: TestClient, password: str, username: str = "amy") -> int:
    return client.post("/api/auth/login",
                       json={"username": username, "password": password}).status_code


def test_failed_logins_are_slowed_down_per_username(anon: TestClient, clock: Clock) -> None:
    # Policy in these tests: 3 free failures, then 30 s doubling.
    assert [_attempt(anon, "wrong") for _ in range(3)] == [401, 401, 401]
    r = anon.post("/api/auth/login", json={"username": "amy", "password": TEST_PASSWORD})
    assert r.status_code == 429 and r.headers["Retry-After"] == "30"
    assert "try again in 30 s" in r.json()["detail"]
    # Another user from the same client is not locked by amy's failures.
    assert _attempt(anon, TEST_PASSWORD, "bob") == 200
    clock.advance(seconds=31)
    assert _attempt(anon, "wrong") == 401  # 4th failure: now 60 s
    clock.advance(seconds=31)
    assert _attempt(anon, TEST_PASSWORD) == 429
    clock.advance(seconds=30)
    assert _attempt(anon, TEST_PASSWORD) == 200
    # Success clears the username's failures.
    assert [_attempt(anon, "wrong") for _ in range(3)] == [401, 401, 401]


def test_the_slow_down_survives_a_restart(web_settings: Settings, engine: Engine,
                                          users: dict[str, int], clock: Clock) -> None:
    policy = ThrottlePolicy(base_delay=30.0)
    with TestClient(create_app(web_settings, engine, WebServices(clock=clock,
                                                                 login_throttle=policy))) as c:
        for _ in range(3):
            _attempt(c, "wrong")
    restarted = create_app(web_settings, engine, WebServices(clock=clock, login_throttle=policy))
    with TestClient(restarted) as c:
        assert _attempt(c, TEST_PASSWORD) == 429


def test_many_usernames_from_one_client_are_slowed_down(anon: TestClient) -> None:
    # Policy: 10 free failures per client address, whatever the usernames.
    codes = [_attempt(anon, "wrong", f"guess{i}") for i in range(11)]
    assert codes[:10] == [401] * 10
    assert _attempt(anon, TEST_PASSWORD, "bob") == 429


def test_session_expires_after_a_shift(login, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    clock.advance(hours=11, minutes=59)
    assert amy.get("/api/auth/me").status_code == 200
    clock.advance(minutes=2)
    assert amy.get("/api/auth/me").status_code == 401


def test_login_needs_both_fields(anon: TestClient) -> None:
    r = anon.post("/api/auth/login", json={"username": "amy"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "password"
    assert "password" in r.json()["message"]


def test_session_secret_unset_still_works(engine: Engine, users: dict[str, int]) -> None:
    app = create_app(Settings(), engine)
    with TestClient(app) as c:
        assert _attempt(c, TEST_PASSWORD) == 200
        assert c.get("/api/auth/me").status_code == 200


def test_expired_session_row_is_not_reused(login, sessions, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    with sessions.begin() as s:
        s.scalar(select(WebSession)).expires_at = clock.now - dt.timedelta(seconds=1)
    assert amy.get("/api/auth/me").status_code == 401
