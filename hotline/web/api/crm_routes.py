"""Customers, the caller card, consultation records, cases, complaints, return visits and
the blacklist: thin routes over hotline.crm, each write in one transaction with its audit."""

from __future__ import annotations

import time
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.accounts.audit import audit
from hotline.crm import blacklist as bl
from hotline.crm import service
from hotline.crm.queries import CallerCard, call_id_for_key, caller_card, search_customers
from hotline.crm.schemas import (
    BlacklistIn,
    CallNoteIn,
    CaseIn,
    CloseComplaintIn,
    ComplaintEscalationIn,
    ComplaintIn,
    CustomerIn,
    DbId,
    ReplyIn,
    ReturnVisitIn,
    clean_text,
)
from hotline.db.models import BlacklistEntry, Case, Complaint, Customer, ReturnVisit
from hotline.domain.enums import CaseStatus, ComplaintStatus
from hotline.domain.errors import InvalidInput
from hotline.domain.phone import InvalidPhoneNumber, normalize_phone
from hotline.web.api.models import (
    BlacklistOut,
    CallerCardOut,
    CallKey,
    CallOut,
    CaseOut,
    ComplaintOut,
    CustomerOut,
    NoteOut,
    ReturnVisitOut,
    out,
)
from hotline.web.auth.gates import Staff, TeamLeader
from hotline.web.context import WebContext, web_context
from hotline.web.errors import not_found_as_404

router = APIRouter(prefix="/api")
Web = Annotated[WebContext, Depends(web_context)]
SearchText = Annotated[str | None, Query(max_length=64)]


T = TypeVar("T")
# The bridge stores a call within milliseconds of its first event; a record saved for a call
# whose row is not there yet waits this long for it before the desk is asked to save again.
CALL_ROW_WAIT = 3.0


class NoteByCallIn(CallNoteIn):
    call_key: CallKey | None = None


class CaseByCallIn(CaseIn):
    call_key: CallKey | None = None


class ComplaintByCallIn(ComplaintIn):
    call_key: CallKey | None = None


def _with_call_id(web: WebContext, body: Any) -> dict[str, Any]:
    """The record's fields with ``call_key`` (what the live desk knows of its call) resolved
    to the stored call's id, so every record of a call attaches to the same row."""
    data: dict[str, Any] = body.model_dump(exclude={"call_key"})
    key = body.call_key
    if key is None:
        return data
    deadline = time.monotonic() + CALL_ROW_WAIT
    while True:
        with web.sessions() as s:
            call_id = call_id_for_key(s, key)
        if call_id is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if call_id is None:
        raise HTTPException(409, f"call {key} is not stored yet (the bridge stores calls within "
                                 "seconds); nothing was saved: save again in a moment")
    if data.get("call_id") not in (None, call_id):
        raise InvalidInput.single("call_id", f"is #{data['call_id']}, but call_key {key} is "
                                             f"call #{call_id}: give one of them")
    data["call_id"] = call_id
    return data


def get_or_404(s: Session, model: type[T], ident: int, noun: str) -> T:
    found = s.get(model, ident)
    if found is None:
        raise HTTPException(404, f"{noun} #{ident} does not exist")
    return found


def _checked(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return clean_text(value)
    except ValueError as exc:
        raise InvalidInput.single(field, str(exc)) from None


# --- customers and the caller card ----------------------------------------------------------


@router.post("/customers", response_model=CustomerOut, status_code=201, tags=["customers"])
def create_customer(body: CustomerIn, who: Staff, web: Web) -> CustomerOut:
    with web.sessions.begin() as s:
        customer = service.create_customer(s, body, web.region)
        audit(s, "customer.create", actor_id=who.user_id, object_type="customer",
              object_id=customer.id, client=who.client, at=web.now())
        return out(CustomerOut, customer, web.settings.tz)


@router.get("/customers", response_model=list[CustomerOut], tags=["customers"])
def find_customers(
    who: Staff, web: Web, phone: SearchText = None, name: SearchText = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[CustomerOut]:
    """Search by phone (a full number in any spelling, or at least 3 of its digits) and/or a
    part of the name."""
    phone, name = _checked(phone, "phone"), _checked(name, "name")
    with web.sessions.begin() as s:
        found = search_customers(s, phone=phone, name=name, region=web.region, limit=limit)
        audit(s, "customer.search", actor_id=who.user_id, object_type="customer",
              details={"phone": phone, "name": name, "found": [c.id for c in found]},
              client=who.client, at=web.now())
        return [out(CustomerOut, c, web.settings.tz) for c in found]


def _card(c: CallerCard, web: WebContext) -> CallerCardOut:
    tz = web.settings.tz
    return CallerCardOut(
        phone=c.phone,
        customer=out(CustomerOut, c.customer, tz) if c.customer else None,
        blacklisted=c.blacklist is not None,
        blacklist=out(BlacklistOut, c.blacklist, tz) if c.blacklist else None,
        past_calls=[out(CallOut, x, tz) for x in c.past_calls],
        notes=[out(NoteOut, x, tz) for x in c.notes],
        open_cases=[out(CaseOut, x, tz) for x in c.open_cases],
        open_complaints=[out(ComplaintOut, x, tz) for x in c.open_complaints],
    )


@router.get("/customers/card", response_model=CallerCardOut, tags=["customers"])
def card_by_phone(
    who: Staff, web: Web, phone: Annotated[str, Query(min_length=1, max_length=32)]
) -> CallerCardOut:
    """The caller card for a number: customer data, past calls, notes, open cases and
    complaints, blacklist mark. A number with no customer record still gets its calls."""
    try:
        e164 = normalize_phone(_checked(phone, "phone") or "", web.region)
    except InvalidPhoneNumber as exc:
        raise InvalidInput.single("phone", str(exc)) from None
    with web.sessions.begin() as s:
        card = caller_card(s, phone=e164)
        audit(s, "customer.card", actor_id=who.user_id, object_type="customer",
              object_id=card.customer.id if card.customer else None,
              details={"phone": e164}, client=who.client, at=web.now())
        return _card(card, web)


@router.get("/customers/{customer_id}", response_model=CustomerOut, tags=["customers"])
def get_customer(customer_id: DbId, who: Staff, web: Web) -> CustomerOut:
    with web.sessions.begin() as s:
        customer = get_or_404(s, Customer, customer_id, "customer")
        audit(s, "customer.read", actor_id=who.user_id, object_type="customer",
              object_id=customer_id, client=who.client, at=web.now())
        return out(CustomerOut, customer, web.settings.tz)


@router.get("/customers/{customer_id}/card", response_model=CallerCardOut, tags=["customers"])
def card_by_customer(customer_id: DbId, who: Staff, web: Web) -> CallerCardOut:
    with web.sessions.begin() as s:
        with not_found_as_404():
            card = caller_card(s, customer_id=customer_id)
        audit(s, "customer.card", actor_id=who.user_id, object_type="customer",
              object_id=customer_id, client=who.client, at=web.now())
        return _card(card, web)


# --- consultation records ---------------------------------------------------------------------


@router.post("/notes", response_model=NoteOut, status_code=201, tags=["records"])
def add_note(body: NoteByCallIn, who: Staff, web: Web) -> NoteOut:
    """The consultation record (category, content, outcome) of a call (rules 1.16, 1.18);
    the call by ``call_id`` or by ``call_key`` as the live desk names it."""
    data = _with_call_id(web, body)
    with web.sessions.begin() as s:
        note = service.add_note(s, data, author_id=who.user_id)
        return out(NoteOut, note, web.settings.tz)


# --- cases ------------------------------------------------------------------------------------


@router.post("/cases", response_model=CaseOut, status_code=201, tags=["records"])
def open_case(body: CaseByCallIn, who: Staff, web: Web) -> CaseOut:
    """A case (time, place, person, event, contact phone), reply due in 48 h (rules 4.11,
    5.2); owned by whoever opens it unless ``owner_id`` says otherwise."""
    data = _with_call_id(web, body)
    with web.sessions.begin() as s:
        case = service.open_case(s, data, created_by_id=who.user_id, region=web.region,
                                 now=web.now())
        return out(CaseOut, case, web.settings.tz)


@router.get("/cases", response_model=list[CaseOut], tags=["records"])
def list_cases(
    who: Staff, web: Web, mine: bool = True, status: CaseStatus | None = CaseStatus.OPEN,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaseOut]:
    with web.sessions() as s:
        stmt = select(Case).order_by(Case.reply_due_at, Case.id).limit(limit)
        if mine:
            stmt = stmt.where(Case.owner_id == who.user_id)
        if status is not None:
            stmt = stmt.where(Case.status == status)
        return [out(CaseOut, c, web.settings.tz) for c in s.scalars(stmt)]


@router.get("/cases/{case_id}", response_model=CaseOut, tags=["records"])
def get_case(case_id: DbId, who: Staff, web: Web) -> CaseOut:
    with web.sessions() as s:
        case = get_or_404(s, Case, case_id, "case")
        return out(CaseOut, case, web.settings.tz)


@router.post("/cases/{case_id}/reply", response_model=CaseOut, tags=["records"])
def reply_case(case_id: DbId, body: ReplyIn, who: Staff, web: Web) -> CaseOut:
    with web.sessions.begin() as s:
        with not_found_as_404():
            case = service.reply_case(s, case_id, body, now=web.now())
        return out(CaseOut, case, web.settings.tz)


# --- complaints -------------------------------------------------------------------------------


@router.post("/complaints", response_model=ComplaintOut, status_code=201, tags=["records"])
def file_complaint(body: ComplaintByCallIn, who: Staff, web: Web) -> ComplaintOut:
    """A complaint; reply and return visit due within 2 working days (rules 5.4, 6.13)."""
    data = _with_call_id(web, body)
    with web.sessions.begin() as s:
        complaint = service.file_complaint(s, data, created_by_id=who.user_id,
                                           calendar=web.calendar, now=web.now())
        return out(ComplaintOut, complaint, web.settings.tz)


@router.get("/complaints", response_model=list[ComplaintOut], tags=["records"])
def list_complaints(
    who: Staff, web: Web, status: ComplaintStatus | None = None, open_only: bool = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ComplaintOut]:
    with web.sessions() as s:
        stmt = select(Complaint).order_by(Complaint.due_at, Complaint.id).limit(limit)
        if status is not None:
            stmt = stmt.where(Complaint.status == status)
        elif open_only:
            stmt = stmt.where(Complaint.status != ComplaintStatus.CLOSED)
        return [out(ComplaintOut, c, web.settings.tz) for c in s.scalars(stmt)]


@router.get("/complaints/{complaint_id}", response_model=ComplaintOut, tags=["records"])
def get_complaint(complaint_id: DbId, who: Staff, web: Web) -> ComplaintOut:
    with web.sessions() as s:
        complaint = get_or_404(s, Complaint, complaint_id, "complaint")
        return out(ComplaintOut, complaint, web.settings.tz)


@router.post("/complaints/{complaint_id}/escalate", response_model=ComplaintOut,
             tags=["records"])
def escalate_complaint(complaint_id: DbId, body: ComplaintEscalationIn, who: Staff,
                       web: Web) -> ComplaintOut:
    """One level up: on-duty team leader, supervisor, company leadership (rules 3.14, 6.19)."""
    with web.sessions.begin() as s:
        with not_found_as_404():
            complaint = service.escalate_complaint(s, complaint_id, body)
        audit(s, "complaint.escalate", actor_id=who.user_id, object_type="complaint",
              object_id=complaint_id,
              details={"level": complaint.escalation_level, "reason": body.reason,
                       "owner_id": complaint.owner_id},
              client=who.client, at=web.now())
        return out(ComplaintOut, complaint, web.settings.tz)


@router.post("/complaints/{complaint_id}/reply", response_model=ComplaintOut, tags=["records"])
def reply_complaint(complaint_id: DbId, body: ReplyIn, who: Staff, web: Web) -> ComplaintOut:
    with web.sessions.begin() as s:
        with not_found_as_404():
            complaint = service.reply_complaint(s, complaint_id, body, now=web.now())
        audit(s, "complaint.reply", actor_id=who.user_id, object_type="complaint",
              object_id=complaint_id, details={"resolution": body.resolution[:500]},
              client=who.client, at=web.now())
        return out(ComplaintOut, complaint, web.settings.tz)


@router.post("/complaints/{complaint_id}/close", response_model=ComplaintOut, tags=["records"])
def close_complaint(complaint_id: DbId, body: CloseComplaintIn, who: Staff,
                    web: Web) -> ComplaintOut:
    """Close, only with the return-visit record (rule 5.5)."""
    with web.sessions.begin() as s:
        get_or_404(s, Complaint, complaint_id, "complaint")
        complaint = service.close_complaint(s, complaint_id,
                                            return_visit_id=body.return_visit_id, now=web.now())
        audit(s, "complaint.close", actor_id=who.user_id, object_type="complaint",
              object_id=complaint_id, details={"return_visit_id": complaint.return_visit_id},
              client=who.client, at=web.now())
        return out(ComplaintOut, complaint, web.settings.tz)


# --- return visits ----------------------------------------------------------------------------


@router.post("/return-visits", response_model=ReturnVisitOut, status_code=201, tags=["records"])
def record_return_visit(body: ReturnVisitIn, who: Staff, web: Web) -> ReturnVisitOut:
    """A return-visit record; every field of rule 4.10 is required (rule 5.8)."""
    with web.sessions.begin() as s:
        visit = service.record_return_visit(s, body, agent_user_id=who.user_id,
                                            region=web.region)
        return out(ReturnVisitOut, visit, web.settings.tz)


@router.get("/return-visits/{visit_id}", response_model=ReturnVisitOut, tags=["records"])
def get_return_visit(visit_id: DbId, who: Staff, web: Web) -> ReturnVisitOut:
    with web.sessions() as s:
        visit = get_or_404(s, ReturnVisit, visit_id, "return visit")
        return out(ReturnVisitOut, visit, web.settings.tz)


# --- blacklist (team leader and up) ---------------------------------------------------------


@router.get("/blacklist", response_model=list[BlacklistOut], tags=["blacklist"])
def list_blacklist(who: TeamLeader, web: Web) -> list[BlacklistOut]:
    with web.sessions() as s:
        rows = s.scalars(select(BlacklistEntry).order_by(BlacklistEntry.added_at.desc()))
        return [out(BlacklistOut, e, web.settings.tz) for e in rows]


@router.post("/blacklist", response_model=BlacklistOut, status_code=201, tags=["blacklist"])
def add_to_blacklist(body: BlacklistIn, who: TeamLeader, web: Web) -> BlacklistOut:
    """Blacklist a malicious complainant's number (rule 3.4); audited."""
    with web.sessions.begin() as s:
        entry = bl.add_to_blacklist(s, body, added_by_id=who.user_id, region=web.region,
                                    now=web.now())
        audit(s, "blacklist.add", actor_id=who.user_id, object_type="blacklist_entry",
              object_id=entry.id, details={"phone": entry.phone, "reason": entry.reason},
              client=who.client, at=web.now())
        return out(BlacklistOut, entry, web.settings.tz)


@router.delete("/blacklist/{entry_id}", response_model=BlacklistOut, tags=["blacklist"])
def remove_from_blacklist(entry_id: DbId, who: TeamLeader, web: Web) -> BlacklistOut:
    with web.sessions.begin() as s:
        with not_found_as_404():
            entry = bl.remove_from_blacklist(s, entry_id)
        audit(s, "blacklist.remove", actor_id=who.user_id, object_type="blacklist_entry",
              object_id=entry_id, details={"phone": entry.phone, "reason": entry.reason},
              client=who.client, at=web.now())
        return out(BlacklistOut, entry, web.settings.tz)
