"""Bad input is refused with the field named, by validation and by the database itself, and
nothing stored before is changed. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.crm import service as crm
from hotline.db.errors import explain_integrity_error
from hotline.db.models import Case, Complaint, Customer, ReturnVisit, User
from hotline.db.session import transaction
from hotline.domain.calendar import WorkingCalendar
from hotline.domain.errors import InvalidInput
from hotline.settings import HoursSettings
from tests.factories import make_user

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Shanghai


@pytest.fixture
def staff(sessions: sessionmaker[Session]) -> dict[str, int]:
    with transaction(sessions) as s:
        agent = make_user(s, "li", "agent", extension="1001")
        sup = make_user(s, "wang", "supervisor")
        return {"agent": agent.id, "supervisor": sup.id}


@pytest.fixture
def customer(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as s:
        c = crm.create_customer(s, {"phone": "138 1234 5678", "name": "张三", "is_member": True})
        return c.id


def snapshot(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (User, Customer, Case, Complaint, ReturnVisit)
        }


def refused_by_db(sessions: sessionmaker[Session], stmt) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError) as info, transaction(sessions) as s:
        s.execute(stmt)
    return str(explain_integrity_error(info.value))


# --- phone numbers -------------------------------------------------------------------------

def test_customer_phone_is_stored_as_e164(sessions: sessionmaker[Session], customer: int) -> None:
    with sessions() as s:
        assert s.get(Customer, customer).phone == "+8613812345678"


@pytest.mark.parametrize("bad", ["12345", "not a phone", "", "+86 999"])
def test_invalid_phone_refused_naming_field(
    sessions: sessionmaker[Session], customer: int, bad: str
) -> None:
    before = snapshot(sessions)
    with pytest.raises(InvalidInput) as info, transaction(sessions) as s:
        crm.create_customer(s, {"phone": bad, "name": "x"})
    assert info.value.problems[0][0] == "phone"
    assert snapshot(sessions) == before


def test_database_refuses_non_e164_phone(sessions: sessionmaker[Session], customer: int) -> None:
    before = snapshot(sessions)
    msg = refused_by_db(sessions, insert(Customer).values(
        phone="13812345679", name="x", gender="unknown", work_unit="", tier="potential",
        is_member=False, is_vip=False, is_key_account=False, notes="",
        created_at=NOW, updated_at=NOW,
    ))
    assert msg.startswith("customers.phone: must be a phone number in E.164")
    assert snapshot(sessions) == before


# --- duplicates ----------------------------------------------------------------------------

def test_duplicate_customer_refused_by_service(sessions: sessionmaker[Session], customer: int) -> None:
    with pytest.raises(InvalidInput, match=r"phone: \+8613812345678 already exists"), transaction(sessions) as s:
        crm.create_customer(s, {"phone": "+86 138-1234-5678", "name": "Other"})
    with sessions() as s:
        assert s.get(Customer, customer).name == "张三"  # the first one is untouched


def test_duplicate_customer_refused_by_database(sessions: sessionmaker[Session], customer: int) -> None:
    before = snapshot(sessions)
    msg = refused_by_db(sessions, insert(Customer).values(
        phone="+8613812345678", name="dup", gender="unknown", work_unit="", tier="potential",
        is_member=False, is_vip=False, is_key_account=False, notes="",
        created_at=NOW, updated_at=NOW,
    ))
    assert msg == "customers.phone: already exists"
    assert snapshot(sessions) == before


# --- cases ---------------------------------------------------------------------------------

CASE = {
    "occurred_at": "2026-11-22T09:30:00+08:00",
    "place": "北京路店",
    "person": "张三",
    "event": "充值未到账",
    "contact_phone": "13812345678",
}


def test_case_gets_48h_reply_deadline(sessions: sessionmaker[Session], staff: dict[str, int]) -> None:
    with transaction(sessions) as s:
        case = crm.open_case(s, {**CASE, "owner_id": staff["agent"]}, created_by_id=staff["agent"], now=NOW)
        assert case.reply_due_at == NOW + dt.timedelta(hours=48)
        assert case.contact_phone == "+8613812345678"


@pytest.mark.parametrize("missing", ["occurred_at", "place", "person", "event", "contact_phone"])
def test_case_requires_each_of_the_five_facts(
    sessions: sessionmaker[Session], staff: dict[str, int], missing: str
) -> None:
    before = snapshot(sessions)
    data = {**CASE, "owner_id": staff["agent"]}
    del data[missing]
    with pytest.raises(InvalidInput) as info, transaction(sessions) as s:
        crm.open_case(s, data, created_by_id=staff["agent"])
    assert [p[0] for p in info.value.problems] == [missing]
    data[missing] = "   " if missing != "occurred_at" else None
    with pytest.raises(InvalidInput) as info, transaction(sessions) as s:
        crm.open_case(s, data, created_by_id=staff["agent"])
    assert [p[0] for p in info.value.problems] == [missing]
    assert snapshot(sessions) == before


@pytest.mark.parametrize("field", ["place", "person", "event"])
def test_database_refuses_blank_case_fact(
    sessions: sessionmaker[Session], staff: dict[str, int], field: str
) -> None:
    values = dict(
        created_by_id=staff["agent"], owner_id=staff["agent"], occurred_at=NOW, place="p",
        person="q", event="e", contact_phone="+8613812345678", status="open",
        created_at=NOW, reply_due_at=NOW + dt.timedelta(hours=48), resolution="",
    )
    values[field] = " "
    assert refused_by_db(sessions, insert(Case).values(**values)) == (
        f"cases.{field}: is required and may not be blank"
    )
    values[field] = None
    assert refused_by_db(sessions, insert(Case).values(**values)) == f"cases.{field}: is required"


# --- return visits -------------------------------------------------------------------------

VISIT = {
    "card_number": "VIP-0001",
    "name": "张三",
    "gender": "male",
    "phone": "13812345678",
    "work_unit": "深圳市美日通科技",
    "place": "电话回访",
    "visited_at": "2026-11-23T10:00:00+08:00",
    "opinions": "服务很好,建议延长营业时间",
}


@pytest.mark.parametrize("missing", list(VISIT))
def test_return_visit_requires_every_field(
    sessions: sessionmaker[Session], staff: dict[str, int], missing: str
) -> None:
    before = snapshot(sessions)
    data = {k: v for k, v in VISIT.items() if k != missing}
    with pytest.raises(InvalidInput) as info, transaction(sessions) as s:
        crm.record_return_visit(s, data, agent_user_id=staff["agent"])
    assert [p[0] for p in info.value.problems] == [missing]
    assert snapshot(sessions) == before


def test_database_refuses_incomplete_return_visit(
    sessions: sessionmaker[Session], staff: dict[str, int]
) -> None:
    msg = refused_by_db(sessions, insert(ReturnVisit).values(
        agent_user_id=staff["agent"], card_number="C1", name="n", gender="male",
        phone="+8613812345678", work_unit="w", place="p", visited_at=NOW, opinions="",
        created_at=NOW,
    ))
    assert msg == "return_visits.opinions: is required and may not be blank"


# --- enums ---------------------------------------------------------------------------------

def test_unknown_enum_value_refused_by_validation(
    sessions: sessionmaker[Session], staff: dict[str, int]
) -> None:
    with pytest.raises(InvalidInput) as info, transaction(sessions) as s:
        crm.add_note(s, {"category": "gossip", "content": "x", "outcome": "accepted"}, author_id=staff["agent"])
    field, reason = info.value.problems[0]
    assert field == "category" and "inquiry" in reason


def test_unknown_enum_value_refused_by_database(
    sessions: sessionmaker[Session], staff: dict[str, int]
) -> None:
    before = snapshot(sessions)
    with pytest.raises(IntegrityError) as info, transaction(sessions) as s:
        s.execute(text(
            "INSERT INTO users (username, display_name, role, password_hash, active, created_at)"
            " VALUES ('king', '', 'king', 'x', true, :t)"
        ), {"t": NOW.replace(tzinfo=None)})
    assert str(explain_integrity_error(info.value)) == "users.role: is not one of the allowed values"
    assert snapshot(sessions) == before


# --- complaints ----------------------------------------------------------------------------

def test_complaint_due_two_working_days_and_closes_only_after_return_visit(
    sessions: sessionmaker[Session], staff: dict[str, int], customer: int
) -> None:
    cal = WorkingCalendar(HoursSettings(), SH)
    received = dt.datetime(2026, 9, 30, 16, 0, tzinfo=SH)
    with transaction(sessions) as s:
        c = crm.file_complaint(
            s, {"description": "充值未到账", "customer_id": customer, "received_at": received.isoformat()},
            created_by_id=staff["agent"], calendar=cal,
        )
        complaint_id = c.id
        assert c.due_at == dt.datetime(2026, 10, 9, 16, 0, tzinfo=SH)

    with pytest.raises(InvalidInput, match="return_visit_id: a complaint can only be closed"), transaction(sessions) as s:
        crm.close_complaint(s, complaint_id)
    # The database refuses it too, whoever writes.
    assert refused_by_db(
        sessions, update(Complaint).where(Complaint.id == complaint_id).values(status="closed")
    ) == "complaints: violates rule closed needs return visit"

    with transaction(sessions) as s:
        visit = crm.record_return_visit(s, VISIT, agent_user_id=staff["agent"])
        crm.close_complaint(s, complaint_id, return_visit_id=visit.id)
    with sessions() as s:
        assert s.get(Complaint, complaint_id).status == "closed"


def test_naive_timestamps_are_refused(sessions: sessionmaker[Session], staff: dict[str, int]) -> None:
    with pytest.raises(InvalidInput, match="occurred_at: must include a time zone"), transaction(sessions) as s:
        crm.open_case(s, {**CASE, "occurred_at": "2026-11-22T09:30:00", "owner_id": staff["agent"]},
                      created_by_id=staff["agent"])
