"""Flag requests and what storing a flag writes: the flag, the optional blacklist entry, the
escalation of an extortion, and the audit log, all in one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.db.errors import integrity_as_invalid_input
from hotline.db.models import AuditLog, BlacklistEntry, CallFlag
from hotline.domain.enums import FlagSource, RecordingReason
from hotline.domain.errors import InvalidInput
from hotline.domain.phone import try_normalize_phone
from recordings.escalation import raise_escalation

# Which reason a kept recording is filed under when a call carries several flags.
PRECEDENCE = {
    RecordingReason.EXTORTION: 0,
    RecordingReason.ABUSIVE: 1,
    RecordingReason.OTHER: 2,
    RecordingReason.BLACKLIST: 3,
}
FLAGGABLE = (RecordingReason.ABUSIVE, RecordingReason.EXTORTION, RecordingReason.OTHER)


class FlagRequest(BaseModel):
    """What an agent or supervisor sends to flag a call."""

    model_config = ConfigDict(extra="forbid")

    # Which call: a call key ("pbx1:1700000000.12"), a stored call id, or neither for the
    # agent's own current call.
    call_key: Annotated[str, Field(min_length=3, max_length=160)] | None = None
    call_id: Annotated[int, Field(ge=1)] | None = None
    reason: RecordingReason
    reason_text: Annotated[str, Field(max_length=2000)] = ""
    # Also blacklist the caller's number (one step for the agent).
    blacklist: bool = False

    @model_validator(mode="after")
    def _check(self) -> FlagRequest:
        if self.reason not in FLAGGABLE:
            raise ValueError("reason: 'blacklist' is set by hotline itself; flag abusive, "
                             "extortion or other")
        self.reason_text = self.reason_text.strip()
        if self.reason is RecordingReason.OTHER and not self.reason_text:
            raise ValueError("reason_text: is required when the reason is 'other'")
        if self.call_key is not None and self.call_id is not None:
            raise ValueError("give call_key or call_id, not both")
        return self

    @classmethod
    def parse(cls, data: dict[str, Any] | FlagRequest) -> FlagRequest:
        if isinstance(data, cls):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                msg = err["msg"].removeprefix("Value error, ")
                field = ".".join(str(p) for p in err["loc"])
                if not field and ": " in msg:
                    field, msg = msg.split(": ", 1)
                problems.append((field or "body", msg))
            raise InvalidInput(problems) from None


@dataclass(frozen=True)
class StoredFlag:
    flag_id: int
    escalation_id: int | None
    recipient_user_ids: tuple[int, ...]
    blacklisted: bool


def store_flag(
    session: Session,
    *,
    call_key: str,
    call_id: int | None,
    reason: RecordingReason,
    reason_text: str,
    source: FlagSource,
    actor_id: int | None,
    at: dt.datetime,
    blacklist: bool = False,
    caller_number: str | None = None,
    region: str = "CN",
    client: str | None = None,
) -> StoredFlag:
    flag = CallFlag(
        call_key=call_key, call_id=call_id, reason=reason, reason_text=reason_text,
        source=source, flagged_by_id=actor_id, flagged_at=at,
    )
    with integrity_as_invalid_input():
        session.add(flag)
        session.flush()
    session.add(AuditLog(
        at=at, actor_id=actor_id, action="call.flagged", object_type="call", object_id=call_key,
        details={"flag_id": flag.id, "reason": reason.value, "reason_text": reason_text,
                 "source": source.value},
        client=client,
    ))
    blacklisted = False
    if blacklist:
        phone = try_normalize_phone(caller_number, region)
        if phone is None:
            raise InvalidInput.single(
                "blacklist", "the caller's number is unknown or withheld: it cannot be blacklisted"
            )
        if session.scalar(select(BlacklistEntry.id).where(BlacklistEntry.phone == phone)) is None:
            why = f"{reason.value}: {reason_text}" if reason_text else reason.value
            session.add(BlacklistEntry(phone=phone, reason=why[:255], added_by_id=actor_id,
                                       added_at=at))
            session.add(AuditLog(
                at=at, actor_id=actor_id, action="blacklist.added", object_type="phone",
                object_id=phone, details={"call_key": call_key, "flag_id": flag.id},
                client=client,
            ))
        blacklisted = True
    escalation_id = None
    recipients: tuple[int, ...] = ()
    if reason is RecordingReason.EXTORTION:
        escalation = raise_escalation(session, flag, at=at)
        escalation_id = escalation.id
        recipients = tuple(r.user_id for r in escalation.recipients)
    session.flush()
    return StoredFlag(flag.id, escalation_id, recipients, blacklisted)


def primary_flag(flags: list[CallFlag]) -> CallFlag:
    """The flag a recording is filed under: the gravest reason, and its first occurrence."""
    return min(flags, key=lambda f: (PRECEDENCE[f.reason], f.flagged_at, f.id))
