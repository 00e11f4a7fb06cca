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
