"""The CRM API as the agent desk uses it: customers, the caller card, consultation records,
cases, complaints (escalate, close only with a return visit), return visits, the blacklist
(team leader and up) and audit rows for reads of customer data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from hotline.db.models import AuditLog, Case, Complaint, Customer
from hotline.domain.enums import CallDisposition
from tests.reports.scenario import add_call, local

CUSTOMER = {"phone": "138 0013 8000", "name": "王小明", "gender": "male", "work_unit": "人民医院",
            "is_member": True, "card_number": "VIP-001"}


def test_create_and_read_customer_normalises_the_phone(login, sessions) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    r = amy.post("/api/customers", json=CUSTOMER)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["phone"] == "+8613800138000"
    assert created["created_at"].endswith("+08:00")  # shown in the hotline's zone
    got = amy.get(f"/api/customers/{created['id']}")
    assert got.status_code == 200 and got.json()["name"] == "王小明"
    again = amy.post("/api/customers", json={**CUSTOMER, "card_number": None})
    assert again.status_code == 422
    assert again.json()["detail"][0]["field"] == "phone"
    assert "already exists" in again.json()["message"]
    with sessions() as s:
        reads = s.scalars(select(AuditLog).where(AuditLog.action == "customer.read")).all()
    assert [(a.object_id, a.actor_id is not None) for a in reads] == [(str(created["id"]), True)]


def test_bad_customer_input_names_each_field_and_stores_nothing(login, sessions) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    r = amy.post("/api/customers", json={"phone": "12", "birthday": "1850-01-01",
                                         "name": "x" * 200})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["detail"]}
    assert {"name", "birthday"} <= fields
    r = amy.post("/api/customers", json={"phone": "not a phone"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "phone"
    r = amy.post("/api/customers", json={"phone": "13800138000", "name": "a\x00b"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "name"
    with sessions() as s:
        assert s.scalars(select(Customer)).all() == []


def test_search_by_phone_digits_and_name(login) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    amy.post("/api/customers", json=CUSTOMER)
    amy.post("/api/customers", json={"phone": "13912345678", "name": "李%华"})
    assert [c["name"] for c in amy.get("/api/customers?phone=13800138000").json()] == ["王小明"]
    assert [c["name"] for c in amy.get("/api/customers?phone=5678").json()] == ["李%华"]
    assert [c["name"] for c in amy.get("/api/customers?name=小明").json()] == ["王小明"]
    assert [c["name"] for c in amy.get("/api/customers?name=%25").json()] == ["李%华"]
    r = amy.get("/api/customers")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "phone"
    assert amy.get("/api/customers?phone=12").status_code == 422


def test_caller_card_shows_history_open_items_and_blacklist(login, sessions) -> None:  # type: ignore[no-untyped-def]
    amy, lead = login("amy"), login("lead")
    cid = amy.post("/api/customers", json=CUSTOMER).json()["id"]
    with sessions.begin() as s:
        call = add_call(s, local("2026-03-01 09:00"), caller="+8613800138000",
                        disposition=CallDisposition.ABANDONED)
        call.customer_id = cid
        call_id = call.id
    assert amy.post("/api/notes", json={"call_id": call_id, "category": "complaint",
                                        "content": "送水迟到", "outcome": "not_accepted"}
                    ).status_code == 201
    case = amy.post("/api/cases", json={
        "occurred_at": "2026-03-01T08:30:00+08:00", "place": "东门", "person": "送水员",
        "event": "迟到两小时", "contact_phone": "13800138000", "customer_id": cid})
    assert case.status_code == 201, case.text
    complaint = amy.post("/api/complaints", json={"description": "送水迟到", "customer_id": cid})
    assert complaint.status_code == 201
    assert lead.post("/api/blacklist", json={"phone": "+86 138 0013 8000",
                                             "reason": "恶意投诉"}).status_code == 201

    card = amy.get("/api/customers/card?phone=13800138000")
    assert card.status_code == 200, card.text
    c = card.json()
    assert c["customer"]["id"] == cid and c["blacklisted"] is True
    assert c["blacklist"]["reason"] == "恶意投诉"
    assert [x["id"] for x in c["past_calls"]] == [call_id]
    assert [n["content"] for n in c["notes"]] == ["送水迟到"]  # linked through the call
    assert [x["id"] for x in c["open_cases"]] == [case.json()["id"]]
    assert [x["id"] for x in c["open_complaints"]] == [complaint.json()["id"]]
    unknown = amy.get("/api/customers/card?phone=13912345678").json()
    assert unknown["customer"] is None and unknown["blacklisted"] is False
    assert amy.get("/api/customers/card?phone=abc").status_code == 422
    by_id = amy.get(f"/api/customers/{cid}/card").json()
    assert by_id["phone"] == "+8613800138000"
    with sessions() as s:
        card_reads = s.scalars(select(AuditLog).where(AuditLog.action == "customer.card")).all()
    assert len(card_reads) == 3


def test_case_needs_the_five_facts_and_is_due_in_48_hours(login, clock) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    r = amy.post("/api/cases", json={"occurred_at": "2026-03-01T08:30:00", "place": " ",
                                     "person": "张三", "event": "", "contact_phone": "1"})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["detail"]}
    assert fields == {"occurred_at", "place", "event", "contact_phone"}
    ok = amy.post("/api/cases", json={"occurred_at": "2026-03-01T08:30:00+08:00",
                                      "place": "门店", "person": "张三", "event": "退款未到账",
                                      "contact_phone": "13800138000"}).json()
    assert dt.datetime.fromisoformat(ok["reply_due_at"]) == clock.now + dt.timedelta(hours=48)
    assert ok["owner_id"] == ok["created_by_id"]  # first-contact responsibility
    replied = amy.post(f"/api/cases/{ok['id']}/reply", json={"resolution": "已退款"})
    assert replied.json()["status"] == "replied"
    assert amy.post("/api/cases/999999/reply", json={"resolution": "x"}).status_code == 404
    owner = amy.post("/api/cases", json={"occurred_at": "2026-03-01T08:30:00+08:00",
                                         "place": "门店", "person": "张三", "event": "x",
                                         "contact_phone": "13800138000", "owner_id": 424242})
    assert owner.status_code == 422 and owner.json()["detail"][0]["field"] == "owner_id"


def test_complaint_due_in_two_working_days_escalates_and_closes_only_with_a_visit(
    login, sessions, clock
) -> None:  # type: ignore[no-untyped-def]
    # Friday 6 March 2026, 16:00 Shanghai: due Tuesday 10 March, 16:00.
    clock.now = local("2026-03-06 16:00")
    amy = login("amy")
    c = amy.post("/api/complaints", json={"description": "态度差", "severity": "high"}).json()
    assert c["due_at"] == "2026-03-10T16:00:00+08:00"
    up = amy.post(f"/api/complaints/{c['id']}/escalate", json={"reason": "客户要求主管处理"})
    assert up.status_code == 200 and up.json()["escalation_level"] == 1
    for _ in range(2):
        amy.post(f"/api/complaints/{c['id']}/escalate", json={"reason": "继续升级"})
    top = amy.post(f"/api/complaints/{c['id']}/escalate", json={"reason": "再升级"})
    assert top.status_code == 422 and top.json()["detail"][0]["field"] == "escalation_level"
    refused = amy.post(f"/api/complaints/{c['id']}/close", json={})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "return_visit_id"
    with sessions() as s:
        assert s.get(Complaint, c["id"]).status.value == "open"
    visit = amy.post("/api/return-visits", json={
        "card_number": "VIP-001", "name": "王小明", "gender": "male", "phone": "13800138000",
        "work_unit": "人民医院", "place": "电话", "visited_at": "2026-03-09T10:00:00+08:00",
        "opinions": "满意"})
    assert visit.status_code == 201, visit.text
    closed = amy.post(f"/api/complaints/{c['id']}/close",
                      json={"return_visit_id": visit.json()["id"]})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = amy.post(f"/api/complaints/{c['id']}/escalate", json={"reason": "x"})
    assert again.status_code == 422
    assert amy.post("/api/complaints/999999/close", json={}).status_code == 404


def test_return_visit_needs_every_field(login) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    r = amy.post("/api/return-visits", json={"card_number": "", "name": "王", "gender": "unknown",
                                             "phone": "13800138000", "work_unit": "x",
                                             "place": "x", "visited_at": "2026-03-09T10:00:00+08:00"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["detail"]} == {"card_number", "gender", "opinions"}


def test_blacklist_is_for_team_leaders_and_audited(login, sessions) -> None:  # type: ignore[no-untyped-def]
    amy, lead = login("amy"), login("lead")
    body = {"phone": "13800138000", "reason": "恶意投诉"}
    assert amy.post("/api/blacklist", json=body).status_code == 403
    assert amy.get("/api/blacklist").status_code == 403
    entry = lead.post("/api/blacklist", json=body)
    assert entry.status_code == 201
    dup = lead.post("/api/blacklist", json=body)
    assert dup.status_code == 422 and "already blacklisted" in dup.json()["message"]
    assert amy.delete(f"/api/blacklist/{entry.json()['id']}").status_code == 403
    assert lead.delete(f"/api/blacklist/{entry.json()['id']}").status_code == 200
    assert lead.get("/api/blacklist").json() == []
    with sessions() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action.like("blacklist.%"))
                         .order_by(AuditLog.id)).all()
    assert [(r.action, r.details["phone"]) for r in rows] == [
        ("blacklist.add", "+8613800138000"), ("blacklist.remove", "+8613800138000")]


def test_note_with_unknown_call_names_the_field(login, sessions) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    r = amy.post("/api/notes", json={"call_id": 777, "category": "inquiry", "content": "x",
                                     "outcome": "accepted"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "call_id"
    r = amy.post("/api/notes", json={"category": "weather", "content": " ", "outcome": "ok"})
    assert {d["field"] for d in r.json()["detail"]} == {"category", "content", "outcome"}
    with sessions() as s:
        assert s.scalars(select(Case)).all() == []


def test_huge_ids_and_odd_text_are_refused_not_crashed(login) -> None:  # type: ignore[no-untyped-def]
    amy = login("amy")
    assert amy.get("/api/customers/99999999999999999999").status_code == 422
    r = amy.post("/api/notes", json={"call_id": 2**40, "category": "inquiry", "content": "x",
                                     "outcome": "accepted"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "call_id"
    r = amy.post("/api/cases", json={"occurred_at": "0001-01-01T00:00:00+08:00", "place": "x",
                                     "person": "x", "event": "x",
                                     "contact_phone": "13800138000"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "occurred_at"
    assert amy.get("/api/customers?name=%00").status_code == 422


def test_lists_of_cases_and_complaints(login) -> None:  # type: ignore[no-untyped-def]
    amy, bob = login("amy"), login("bob")
    body = {"occurred_at": "2026-03-01T08:30:00+08:00", "place": "门店", "person": "张三",
            "event": "x", "contact_phone": "13800138000"}
    mine = amy.post("/api/cases", json=body).json()["id"]
    bob.post("/api/cases", json=body)
    assert [c["id"] for c in amy.get("/api/cases").json()] == [mine]
    assert len(amy.get("/api/cases?mine=false").json()) == 2
    amy.post("/api/complaints", json={"description": "a"})
    assert len(bob.get("/api/complaints").json()) == 1
    assert bob.get("/api/complaints?status=closed").json() == []
