"""Backups of hotline's data and their restore (rules 9.1-9.3: daily, on another machine).

A backup is one folder under ``backup.dir``::

    hotline-20261123T183000Z/
      manifest.json         time, database kind, schema revision, row counts, checksums
      manifest.json.sha256  the manifest's own SHA-256 (``sha256sum -c`` format)
      database.sqlite3      SQLite: online backup API copy    | database.pgdump: pg_dump -Fc
      recordings.jsonl      the recordings table as data (the index)
      store-files.jsonl     every file of the recordings store with its size and SHA-256
      audio/YYYY/MM/DD/...  the recordings' files themselves (``--with-audio`` only)

:func:`make_backup` writes one (``hotline backup``, and daily through :mod:`.job`);
:func:`restore_backup` checks one and brings it back (``hotline restore``).
"""

from hotline.backup.catalog import list_backups, resolve
from hotline.backup.create import BackupResult, make_backup
from hotline.backup.errors import BackupError, CorruptBackup, RestoreRefused
from hotline.backup.restore import RestoreResult, restore_backup, verify_backup

__all__ = [
    "BackupError",
    "BackupResult",
    "CorruptBackup",
    "RestoreRefused",
    "RestoreResult",
    "list_backups",
    "make_backup",
    "resolve",
    "restore_backup",
    "verify_backup",
]
