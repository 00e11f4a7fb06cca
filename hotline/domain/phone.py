"""Phone numbers, normalised to E.164 with ``phonenumbers`` before they are stored or compared."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """A phone number that ``phonenumbers`` cannot read as a possible, valid number."""


def normalize_phone(raw: str, region: str = "CN") -> str:
    """Return ``raw`` as E.164 (``+8613812345678``), reading national numbers in ``region``.

    Raises :class:`InvalidPhoneNumber` naming the input when it is not a valid number, so the
    message can be passed to the user as is.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("phone number is empty")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number for region {region}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65_536)
def try_normalize_phone(raw: str | None, region: str = "CN") -> str | None:
    """E.164 form of a caller ID, or None for anonymous, internal or malformed numbers.

    Remembered for the last 65,536 numbers: parsing costs ~0.2 ms, which the AMI bridge pays
    for every call it sees, and hotlines hear the same callers again and again."""
    if not raw:
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber:
        return None
