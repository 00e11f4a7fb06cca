"""Validated input for CRM records.

Phone numbers are normalised to E.164 here, in the region passed as validation context
(``{"region": "CN"}``). Without a context (FastAPI validating a request body) a phone is only
checked for length and kept as typed; :func:`hotline.crm.service.parse` always validates again
with the hotline's region, so the database only ever sees one spelling of a number.

Every text is bounded by its column's length and may not contain NUL or unpaired surrogate
characters, which PostgreSQL refuses: bad input is named here, never found by the database.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from hotline.domain.enums import (
    CallCategory,
    ComplaintSeverity,
    CustomerTier,
    Gender,
    NoteOutcome,
)
from hotline.domain.phone import normalize_phone

# Integer primary keys: PostgreSQL's INTEGER, so an absurd id is refused as input rather than
# overflowing inside the database.
DbId = Annotated[int, Field(ge=1, le=2_147_483_647)]

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def clean_text(value: str) -> str:
    """Refuse characters no database column can hold."""
    if "\x00" in value:
        raise ValueError("may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid text (unpaired surrogate characters)") from None
    return value


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset (e.g. 2026-11-22T10:00:00+08:00)")
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is outside the years 1970 to 2099") from None
    if not (EARLIEST <= utc < LATEST):
        raise ValueError("is outside the years 1970 to 2099")
    return utc


def _not_blank(value: str) -> str:
    value = clean_text(value).strip()
    if not value:
        raise ValueError("is required and may not be blank")
    return value


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]
Required = Annotated[str, AfterValidator(_not_blank)]
CleanText = Annotated[str, AfterValidator(clean_text)]


# Texts bounded by their column (String(n)); "Req" ones are required and may not be blank.
Req64 = Annotated[str, StringConstraints(max_length=64), AfterValidator(_not_blank)]
Req128 = Annotated[str, StringConstraints(max_length=128), AfterValidator(_not_blank)]
Req255 = Annotated[str, StringConstraints(max_length=255), AfterValidator(_not_blank)]
ReqLong = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_not_blank)]
Opt64 = Annotated[str, StringConstraints(max_length=64), AfterValidator(clean_text)]
Opt128 = Annotated[str, StringConstraints(max_length=128), AfterValidator(clean_text)]
Opt255 = Annotated[str, StringConstraints(max_length=255), AfterValidator(clean_text)]


def _phone(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str | int):
        raise ValueError("must be a phone number")
    text = clean_text(str(value)).strip()
    if len(text) > 32:
        raise ValueError("is too long for a phone number")
    if info.context is None:
        # Normalised when the service validates with the hotline's region; here only what
        # is no phone number in any region is refused, so all problems are named at once.
        digits = re.sub(r"[\s().\-]", "", text)
        if not re.fullmatch(r"\+?\d{5,17}", digits):
            raise ValueError(f"{text!r} is not a phone number")
        return text
    region = info.context.get("region", "CN")
    return normalize_phone(text, region)


PhoneE164 = Annotated[str, BeforeValidator(_phone), Field(json_schema_extra={"example": "13812345678"})]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(_In):
    phone: PhoneE164
    name: Opt128 = ""
    gender: Gender = Gender.UNKNOWN
    birthday: dt.date | None = None
    work_unit: Opt255 = ""
    card_number: Opt64 | None = None
    tier: CustomerTier = CustomerTier.POTENTIAL
    is_member: bool = False
    is_vip: bool = False
    is_key_account: bool = False
    department: Opt128 | None = None
    assigned_agent_id: DbId | None = None

    @field_validator("birthday")
    @classmethod
    def _birthday(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not (dt.date(1900, 1, 2) <= value <= dt.date.today()):
            raise ValueError("must be a real date of birth between 1900 and today")
        return value

    @field_validator("card_number", "department")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class CallNoteIn(_In):
    call_id: DbId | None = None
    customer_id: DbId | None = None
    category: CallCategory
    content: ReqLong
    outcome: NoteOutcome


class CaseIn(_In):
    """The five facts of rule 4.11 are all required; the owner defaults to the agent who
    opens the case (first-contact responsibility, rule 1.29)."""

    occurred_at: AwareDatetime
    place: Req255
    person: Req128
    event: ReqLong
    contact_phone: PhoneE164
    owner_id: DbId | None = None
    call_id: DbId | None = None
    customer_id: DbId | None = None


class ReturnVisitIn(_In):
    """Rule 4.10 / 5.8: card number, name, gender, phone, work unit, place, time, opinions."""

    card_number: Req64
    name: Req128
    gender: Annotated[Gender, AfterValidator(lambda g: _known_gender(g))]
    phone: PhoneE164
    work_unit: Req255
    place: Req255
    visited_at: AwareDatetime
    opinions: ReqLong
    customer_id: DbId | None = None


def _known_gender(value: Gender) -> Gender:
    if value is Gender.UNKNOWN:
        raise ValueError("must be male or female on a return-visit record")
    return value


class ComplaintIn(_In):
    description: ReqLong
    severity: ComplaintSeverity = ComplaintSeverity.NORMAL
    received_at: AwareDatetime | None = None
    call_id: DbId | None = None
    customer_id: DbId | None = None
    owner_id: DbId | None = None


class ComplaintEscalationIn(_In):
    """Up one level (agent → on-duty team leader → supervisor → company leadership, rules
    3.14, 6.15, 6.19), with the reason and optionally the new owner."""

    reason: ReqLong
    owner_id: DbId | None = None
    severity: ComplaintSeverity | None = None


class ReplyIn(_In):
    """The answer given to the customer on a case or complaint."""

    resolution: ReqLong


class CloseComplaintIn(_In):
    return_visit_id: DbId | None = None


class BlacklistIn(_In):
    """Rule 3.4: a malicious complainant's number, and why."""

    phone: PhoneE164
    reason: Req255


class CallbackIn(_In):
    """An agent promises to call back (rule 1.28); the task is dialled by the scheduler."""

    phone: PhoneE164
    due_at: AwareDatetime | None = None
    call_id: DbId | None = None
    customer_id: DbId | None = None
    note: Opt255 = ""
