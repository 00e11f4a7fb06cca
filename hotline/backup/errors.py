"""Why a backup or a restore did not happen, in words an operator can act on."""

from __future__ import annotations


class BackupError(Exception):
    """A backup could not be made (or read); nothing half-written is left as a backup."""


class CorruptBackup(BackupError):
    """A file of a backup is missing or its checksum differs from the manifest's."""


class RestoreRefused(BackupError):
    """The restore was refused before anything was changed (target not empty, wrong kind,
    unknown schema revision, conflicting recording files)."""
