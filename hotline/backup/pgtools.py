"""PostgreSQL's own client tools (pg_dump, pg_restore, psql), found and called safely.

The password never appears on a command line (other users can read those in ``ps``): it goes
to the tool in ``PGPASSWORD``; everything else is a libpq connection string built from the
configured database URL.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from sqlalchemy.engine import URL

from hotline.backup.errors import BackupError


def find_tool(name: str, bin_dir: Path | None = None) -> Path:
    """``name`` from ``bin_dir``, else from the newest ``/usr/lib/postgresql/<major>/bin``
    (Debian's layout, where the newest tools read every older server), else from PATH."""
    if bin_dir is not None:
        candidate = bin_dir / name
        if candidate.is_file():
            return candidate
        raise BackupError(f"backup.pg_bin_dir: {candidate} does not exist")
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if versions:
        return Path(versions[-1])
    found = shutil.which(name)
    if found:
        return Path(found)
    raise BackupError(
        f"{name} not found: install the Debian package 'postgresql-client' (or 'postgresql'), "
        "or set backup.pg_bin_dir"
    )


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conninfo(url: URL, application: str) -> str:
    """A libpq connection string for ``url``, without its password."""
    parts: dict[str, str] = {}
    if url.host:
        parts["host"] = url.host
    if url.port:
        parts["port"] = str(url.port)
    if url.username:
        parts["user"] = url.username
    if url.database:
        parts["dbname"] = url.database
    for key, value in url.query.items():  # sslmode=..., host=/run/postgresql, ...
        parts[key] = value if isinstance(value, str) else value[-1]
    parts["application_name"] = application
    return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())


def tool_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)  # PGSSLROOTCERT, PGPASSFILE... still apply; the URL wins
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env
