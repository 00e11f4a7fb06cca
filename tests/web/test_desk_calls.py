"""The call on the agent's desk: records saved by call key attach to the stored call, a
reloaded desk finds its current call again; the scripts come from the prompt catalogue; the
API page's Swagger UI is served from hotline itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import Agent, CallNote, Case, Complaint
from hotline.domain.enums import CallCategory, CallDisposition
from hotline.settings import Settings
from hotline.web.api import crm_routes
from hotline.web.app import create_app
from hotline.web.scripts import ScriptsUnavailable
from ivr.prompts.catalogue import load_catalogue
from tests.conftest import REPO
from tests.reports.scenario import LegSpec, add_call, local


@pytest.fixture
def db_kind() -> str:
    return "sqlite"


def _amy(sessions: sessionmaker[Session]) -> Agent:
    with sessions() as s:
        agent = s.scalar(select(Agent).where(Agent.extension == "1001"))
        assert agent is not None
        return agent


def test_records_by_call_key_attach_to_the_stored_call(login, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    with sessions.begin() as s:
        call = add_call(s, local("2026-03-02 09:55"), agent=_amy(sessions), wait=20, talk=60)
        key, call_id = f"{call.pbx}:{call.linkedid}", call.id
    r = amy.post("/api/notes", {"call_key": key, "category": "inquiry", "content": "问送水时间",
                                "outcome": "accepted"})
    assert r.status_code == 201, r.text
    assert r.json()["call_id"] == call_id
    r = amy.post("/api/cases", {"call_key": key, "occurred_at": "2026-03-02T09:30:00+08:00",
                                "place": "东门", "person": "送水员", "event": "迟到",
                                "contact_phone": "13800138000"})
    assert r.status_code == 201 and r.json()["call_id"] == call_id
    r = amy.post("/api/complaints", {"call_key": key, "description": "送水迟到"})
    assert r.status_code == 201 and r.json()["call_id"] == call_id
    with sessions() as s:
        assert s.scalar(select(CallNote.call_id)) == call_id
        assert s.scalar(select(Case.call_id)) == call_id
        assert s.scalar(select(Complaint.call_id)) == call_id

    both = amy.post("/api/notes", {"call_key": key, "call_id": call_id + 100,
                                   "category": "inquiry", "content": "x", "outcome": "accepted"})
    assert both.status_code == 422 and both.json()["detail"][0]["field"] == "call_id"
    bad = amy.post("/api/notes", {"call_key": "../etc/passwd", "category": "inquiry",
                                  "content": "x", "outcome": "accepted"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "call_key"


def test_a_record_for_a_call_not_stored_yet_is_refused_and_nothing_saved(
    login, sessions, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(crm_routes, "CALL_ROW_WAIT", 0.3)
    r = login("amy").post("/api/notes", {"call_key": "pbx1:1772416800.99", "category": "inquiry",
                                         "content": "问送水时间", "outcome": "accepted"})
    assert r.status_code == 409 and "save again" in r.json()["detail"]
    with sessions() as s:
        assert s.scalar(select(CallNote.id)) is None


def test_the_desk_shows_the_call_the_agents_phone_is_on(login, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    agent = _amy(sessions)
    assert amy.get("/api/desk").json()["current_call"] is None
    with sessions.begin() as s:
        # 09:59 local, the clock says 10:00: ringing at amy, not ended.
        call = add_call(s, local("2026-03-02 09:59"), disposition=None, ended=False,
                        category=CallCategory.COMPLAINT, legs=(LegSpec(agent, "RINGING"),))
        key = f"{call.pbx}:{call.linkedid}"
    current = amy.get("/api/desk").json()["current_call"]
    assert current["call_key"] == key and current["category"] == "complaint"
    assert current["caller_number"] == "+8613800138000" and current["ended_at"] is None
    assert login("bob").get("/api/desk").json()["current_call"] is None

    with sessions.begin() as s:
        row = s.get(type(call), call.id)
        row.ended_at = clock()
        row.disposition = CallDisposition.ANSWERED
    assert amy.get("/api/desk").json()["current_call"]["ended_at"] is not None
    clock.advance(minutes=11)  # past the flag grace period (10 min)
    assert amy.get("/api/desk").json()["current_call"] is None


def test_scripts_are_the_prompt_catalogues_words(login) -> None:  # type: ignore[no-untyped-def]
    catalogue = load_catalogue(REPO / "callflows" / "prompts.yaml")
    by_script = catalogue.by_script()
    scripts = login("amy").get("/api/scripts").json()
    assert sorted(s["id"] for s in scripts) == sorted(f"S{n}" for n in range(1, 17))
    for s in scripts:
        names = by_script[s["id"]]
        assert s["zh"] == [catalogue.prompts[n].zh_cn for n in names]
        assert s["en"] == [catalogue.prompts[n].en for n in names]
    assert scripts[0]["id"] == "S1" and scripts[0]["zh"] == ["您好!请问有什么可以帮到您?"]


def _catalogue_copy(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((REPO / "callflows" / "prompts.yaml").read_text(encoding="utf-8"))
    edit(data["prompts"])
    path = tmp_path / "prompts.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_corrected_phrase_shows_on_the_desk(tmp_path: Path, engine: Engine, users) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from tests.factories import TEST_PASSWORD

    def edit(prompts):  # type: ignore[no-untyped-def]
        prompts["greeting"]["zh-CN"] = "您好!这里是热线,请问有什么可以帮到您?"

    path = _catalogue_copy(tmp_path, edit)
    app = create_app(Settings(ivr={"prompts_file": path}), engine)
    with TestClient(app) as c:
        c.post("/api/auth/login", json={"username": "amy", "password": TEST_PASSWORD})
        assert c.get("/api/scripts").json()[0]["zh"] == ["您好!这里是热线,请问有什么可以帮到您?"]
        assert "您好!这里是热线" in c.get("/desk").text


def test_a_catalogue_without_a_script_stops_the_app_naming_it(tmp_path: Path, engine: Engine) -> None:
    def edit(prompts):  # type: ignore[no-untyped-def]
        del prompts["closing"]["script"]

    path = _catalogue_copy(tmp_path, edit)
    with pytest.raises(ScriptsUnavailable, match=re.escape(f"{path}: no prompt is marked with "
                                                           "script S16")):
        create_app(Settings(ivr={"prompts_file": path}), engine)
    with pytest.raises(ScriptsUnavailable, match="ivr.prompts_file: .*missing.yaml: file not found"):
        create_app(Settings(ivr={"prompts_file": tmp_path / "missing.yaml"}), engine)


def test_swagger_ui_is_served_locally(login, anon) -> None:  # type: ignore[no-untyped-def]
    page = login("amy").get("/api/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "/static/apidocs/swagger-ui-bundle.js" in urls
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        r = anon.get(f"/static/apidocs/{asset}")
        assert r.status_code == 200 and len(r.content) > 50_000
