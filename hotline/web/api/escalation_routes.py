"""Escalations of extortion calls (rules 3.2, 3.6): the team leaders on duty and the
supervisors who were told see theirs and acknowledge them. Raised by recordings when a call is
flagged ``extortion``; shown live in their pages (``escalation_raised`` on the live feed) and
listed here so one raised while a page was closed is not missed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import Exists, exists, select
from sqlalchemy.orm import Session

from hotline.accounts.audit import audit
from hotline.crm.schemas import DbId
from hotline.db.models import Escalation, EscalationRecipient, Recording, User
from hotline.domain.enums import EscalationStatus, Role
from hotline.web.api.models import EscalationOut
from hotline.web.auth.gates import TeamLeader
from hotline.web.auth.principal import Principal
from hotline.web.context import WebContext, web_context

router = APIRouter(prefix="/api/escalations", tags=["escalations"])
Web = Annotated[WebContext, Depends(web_context)]


def _is_recipient(escalation_id: Any, user_id: int) -> Exists:
    return exists().where(EscalationRecipient.escalation_id == escalation_id,
                          EscalationRecipient.user_id == user_id)


def _sees(s: Session, who: Principal, escalation: Escalation) -> bool:
    """Admins see every escalation; others those they were told of."""
    if who.role is Role.ADMIN:
        return True
    return bool(s.scalar(select(_is_recipient(escalation.id, who.user_id))))


def _out(s: Session, e: Escalation, web: WebContext) -> EscalationOut:
    tz = web.settings.tz
    names = {uid: name for uid, name in s.execute(select(User.id, User.username).where(
        User.id.in_([i for i in (e.raised_by_id, e.acknowledged_by_id) if i is not None])
    ))}
    recording_id = e.recording_id
    if recording_id is None and e.call_id is not None:
        recording_id = s.scalar(select(Recording.id).where(Recording.call_id == e.call_id)
                                .order_by(Recording.id.desc()).limit(1))
    return EscalationOut(
        id=e.id, call_key=e.call_key, call_id=e.call_id, reason=e.reason.value,
        reason_text=e.reason_text, status=e.status, raised_at=e.raised_at.astimezone(tz),
        raised_by=names.get(e.raised_by_id) if e.raised_by_id else None,
        acknowledged_at=e.acknowledged_at.astimezone(tz) if e.acknowledged_at else None,
        acknowledged_by=names.get(e.acknowledged_by_id) if e.acknowledged_by_id else None,
        recording_id=recording_id,
    )


@router.get("", response_model=list[EscalationOut])
def list_escalations(
    who: TeamLeader, web: Web, status: EscalationStatus | None = EscalationStatus.OPEN,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[EscalationOut]:
    """The escalations you were told of (admins: all), newest first; open ones by default."""
    stmt = select(Escalation).order_by(Escalation.raised_at.desc(), Escalation.id.desc())
    if who.role is not Role.ADMIN:
        stmt = stmt.where(_is_recipient(Escalation.id, who.user_id))
    if status is not None:
        stmt = stmt.where(Escalation.status == status)
    with web.sessions() as s:
        return [_out(s, e, web) for e in s.scalars(stmt.limit(limit))]


@router.post("/{escalation_id}/acknowledge", response_model=EscalationOut)
def acknowledge(escalation_id: DbId, who: TeamLeader, web: Web) -> EscalationOut:
    """Say you are handling it; the others told of it see who took it. Acknowledging twice
    changes nothing."""
    with web.sessions.begin() as s:
        escalation = s.get(Escalation, escalation_id)
        if escalation is None:
            raise HTTPException(404, f"escalation #{escalation_id} does not exist")
        if not _sees(s, who, escalation):
            raise HTTPException(403, f"escalation #{escalation_id} was not raised to you")
        if escalation.status is EscalationStatus.OPEN:
            escalation.status = EscalationStatus.ACKNOWLEDGED
            escalation.acknowledged_by_id = who.user_id
            escalation.acknowledged_at = web.now()
            audit(s, "escalation.acknowledge", actor_id=who.user_id, object_type="escalation",
                  object_id=escalation_id, details={"call_key": escalation.call_key},
                  client=who.client, at=web.now())
            s.flush()
        return _out(s, escalation, web)
