"""Validated input for CRM records.

Phone numbers are normalised to E.164 here, in the region passed as validation context
(``{"region": "CN"}``), so the database only ever sees one spelling of a number.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
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


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset (e.g. 2026-11-22T10:00:00+08:00)")
    return value.astimezone(dt.UTC)


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]
Required = Annotated[str, AfterValidator(lambda s: _not_blank(s))]


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("is required and may not be blank")
    return value


def _phone(value: Any, info: ValidationInfo) -> str:
    region = (info.context or {}).get("region", "CN")
    return normalize_phone(str(value), region)


PhoneE164 = Annotated[str, BeforeValidator(_phone)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(_In):
    phone: PhoneE164
    name: str = ""
    gender: Gender = Gender.UNKNOWN
    birthday: dt.date | None = None
    work_unit: str = ""
    card_number: str | None = None
    tier: CustomerTier = CustomerTier.POTENTIAL
    is_member: bool = False
    is_vip: bool = False
    is_key_account: bool = False
    department: str | None = None
    assigned_agent_id: int | None = None

    @field_validator("birthday")
    @classmethod
    def _birthday(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not (dt.date(1900, 1, 2) <= value <= dt.date.today()):
            raise ValueError("must be a real date of birth between 1900 and today")
        return value


class CallNoteIn(_In):
    call_id: int | None = None
    customer_id: int | None = None
    category: CallCategory
    content: Required
    outcome: NoteOutcome


class CaseIn(_In):
    """The five facts of rule 4.11 are all required."""

    occurred_at: AwareDatetime
    place: Required
    person: Required
    event: Required
    contact_phone: PhoneE164
    owner_id: int
    call_id: int | None = None
    customer_id: int | None = None


class ReturnVisitIn(_In):
    """Rule 4.10 / 5.8: card number, name, gender, phone, work unit, place, time, opinions."""

    card_number: Required
    name: Required
    gender: Annotated[Gender, AfterValidator(lambda g: _known_gender(g))]
    phone: PhoneE164
    work_unit: Required
    place: Required
    visited_at: AwareDatetime
    opinions: Required
    customer_id: int | None = None


def _known_gender(value: Gender) -> Gender:
    if value is Gender.UNKNOWN:
        raise ValueError("must be male or female on a return-visit record")
    return value


class ComplaintIn(_In):
    description: Required
    severity: ComplaintSeverity = ComplaintSeverity.NORMAL
    received_at: AwareDatetime | None = None
    call_id: int | None = None
    customer_id: int | None = None
    owner_id: int | None = None
