"""PostgreSQL: ``pg_dump`` in custom format, on a snapshot this process exports.

The snapshot (``pg_export_snapshot()`` in a REPEATABLE READ transaction kept open while
pg_dump runs with ``--snapshot``) is the one the manifest's counts and the recordings index
are read from, so dump and index describe the same instant.

A restore turns the dump back into SQL (``pg_restore --file -``) and runs it with psql in ONE
transaction, after dropping whatever tables the target schema holds: either the whole backup
is in place, or the target is as it was.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from hotline.backup.errors import BackupError, RestoreRefused
from hotline.backup.pgtools import conninfo, find_tool, tool_env
from hotline.backup.snapshot import SnapshotFacts, read_facts

FILE_NAME = "database.pgdump"
CHUNK = 1 << 16

# Drops every table, view and sequence of the schema being restored into, inside the
# restore's own transaction; a lock held by a running hotline makes it fail fast instead
# of waiting.
_CLEAR_SCHEMA = """
SET LOCAL lock_timeout = '10s';
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.relname, c.relkind FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %I.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                     WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      current_schema(), r.relname);
  END LOOP;
END $$;
"""


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def dump(engine: Engine, dest: Path, bin_dir: Path | None) -> SnapshotFacts:
    pg_dump = find_tool("pg_dump", bin_dir)
    url = engine.url
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            facts = read_facts(conn)
            result = subprocess.run(
                [str(pg_dump), "--format=custom", f"--snapshot={snapshot}", "--no-password",
                 f"--file={dest}", f"--dbname={conninfo(url, 'hotline-backup')}"],
                env=tool_env(url), capture_output=True, text=True,
            )
    if result.returncode != 0:
        raise BackupError(
            f"pg_dump of {url.render_as_string(hide_password=True)} failed "
            f"(exit {result.returncode}):\n{_tail(result.stderr)}"
        )
    return facts


def restore(url: URL, dump_file: Path, bin_dir: Path | None) -> None:
    pg_restore = find_tool("pg_restore", bin_dir)
    psql = find_tool("psql", bin_dir)
    env = tool_env(url)
    where = url.render_as_string(hide_password=True)
    with tempfile.TemporaryFile("w+") as restore_err, tempfile.TemporaryFile("w+") as psql_err:
        consumer = subprocess.Popen(
            [str(psql), "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-f", "-",
             f"--dbname={conninfo(url, 'hotline-restore')}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env,
        )
        producer = subprocess.Popen(
            [str(pg_restore), "--no-owner", "--no-privileges", "--file=-", str(dump_file)],
            stdout=subprocess.PIPE, stderr=restore_err, env=env,
        )
        assert consumer.stdin is not None and producer.stdout is not None
        restore_rc: int | None = None
        try:
            consumer.stdin.write(f"BEGIN;\n{_CLEAR_SCHEMA}\n".encode())
            while chunk := producer.stdout.read(CHUNK):
                consumer.stdin.write(chunk)
            restore_rc = producer.wait()
            # COMMIT only once pg_restore has read the whole dump: a dump that breaks off
            # half-way must not leave half a database behind.
            if restore_rc == 0:
                consumer.stdin.write(b"\nCOMMIT;\n")
        except BrokenPipeError:
            pass  # psql stopped at an error; its message says which
        finally:
            with contextlib.suppress(BrokenPipeError):
                consumer.stdin.close()
            if restore_rc is None:
                producer.kill()
                restore_rc = producer.wait()
            producer.stdout.close()
        psql_rc = consumer.wait()
        psql_err.seek(0)
        restore_err.seek(0)
        psql_text, restore_text = psql_err.read(), restore_err.read()
    if psql_rc != 0:
        if "lock timeout" in psql_text:
            raise RestoreRefused(
                f"the database {where} is in use (a lock was not granted within 10 s): "
                "stop hotline before restoring; nothing was changed"
            )
        raise BackupError(
            f"restoring into {where} failed; nothing was changed (one transaction):\n"
            f"{_tail(psql_text)}"
        )
    if restore_rc != 0:
        raise BackupError(
            f"pg_restore could not read {dump_file} (exit {restore_rc}); nothing was "
            f"changed:\n{_tail(restore_text)}"
        )
