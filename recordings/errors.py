"""Refusals of the recordings service, each with the HTTP status the API answers with."""

from __future__ import annotations


class RecordingsError(Exception):
    status = 400


class NotFound(RecordingsError):
    status = 404


class Forbidden(RecordingsError):
    status = 403


class TooLate(RecordingsError):
    """The call ended longer ago than the flag grace period."""

    status = 409


class NotAvailable(RecordingsError):
    """The recording exists but its file cannot be served (purged, missing, or its storage key
    was tampered with)."""

    status = 404


class FlagNotStored(RecordingsError):
    """The database refused or failed the flag after Asterisk had already been told to act on
    it (the caller heard the warning or the call is ending): said plainly, so the agent knows
    to flag again, and logged with the database's own error."""

    status = 503
