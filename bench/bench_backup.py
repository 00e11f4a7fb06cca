"""How long ``hotline backup`` and ``hotline restore`` take on a large database, against the
bare tools they are built on, measured in the same run.

    .venv/bin/python bench/bench_backup.py                      # both databases, 200,000 calls
    .venv/bin/python bench/bench_backup.py --db sqlite --calls 1000000

The database is loaded as bench/bench_reports.py loads it (calls over a year with their agent
legs). Baselines: SQLite, a plain file copy of the database (the floor of any backup, and not a
consistent one while hotline writes); PostgreSQL, ``pg_dump -Fc`` alone and ``pg_restore
--dbname`` alone (what hotline adds: the exported snapshot, the row counts and recordings index
read from it, checksums, and a restore that is one transaction and verified). Also prints the
bytes one call takes in each database, for sizing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reports import load  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402

from hotline.backup import make_backup, restore_backup  # noqa: E402
from hotline.backup.pgtools import conninfo, find_tool, tool_env  # noqa: E402
from hotline.db import migrate  # noqa: E402
from hotline.db.session import make_engine  # noqa: E402
from hotline.settings import Settings  # noqa: E402


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _row(label: str, seconds: float, base: float | None, extra: str = "") -> None:
    ratio = f"{seconds / base:>6.2f}" if base else "  1.00"
    print(f"  {label:<44} {seconds:>8.2f} s  ratio {ratio}  {extra}", flush=True)


def bench_sqlite(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    src = tmp / "hotline.db"
    engine = make_engine(f"sqlite:///{src}")
    migrate.upgrade(engine)
    print(f"SQLite: loading {n:,} calls", end=" ", flush=True)
    print(f"(loaded in {load(engine, n):.0f} s)")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    size = src.stat().st_size
    print(f"  database file: {size / 2**20:.0f} MiB, {size / n:.0f} bytes per call "
          "(calls, legs, indexes)")
    settings = Settings(database={"url": f"sqlite:///{src}"},
                        recordings={"store_dir": tmp / "store"}, backup={"dir": tmp / "backups"})
    copy = _timed(lambda: shutil.copyfile(src, tmp / "plain-copy.db"))
    _row("baseline: copy the database file", copy, None)
    result = None

    def backup() -> None:
        nonlocal result
        result = make_backup(settings, engine)

    took = _timed(backup)
    assert result is not None
    _row("hotline backup (online backup API, checks)", took, copy,
         f"{result.size_bytes / 2**20:.0f} MiB")
    engine.dispose()
    target = Settings(database={"url": f"sqlite:///{tmp / 'restored.db'}"},
                      recordings={"store_dir": tmp / "store2"}, backup={"dir": tmp / "backups"})
    back = _timed(lambda: shutil.copyfile(tmp / "plain-copy.db", tmp / "plain-restored.db"))
    _row("baseline: copy the file back", back, None)
    _row("hotline restore (checksums, copy, verify)",
         _timed(lambda: restore_backup(target, result.path)), back)
    shutil.rmtree(tmp, ignore_errors=True)


def bench_postgres(n: int) -> None:
    admin_url = os.environ.get("HOTLINE_BENCH_DATABASE_URL")
    server = None
    if not admin_url:
        from hotline.devtools.pgserver import PostgresServer

        server = PostgresServer().start()
        admin_url = server.url()
    admin = make_engine(admin_url)
    names = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    urls = [make_url(admin_url).set(database=name) for name in names]
    tmp = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    try:
        engine = make_engine(urls[0])
        migrate.upgrade(engine)
        print(f"PostgreSQL: loading {n:,} calls", end=" ", flush=True)
        print(f"(loaded in {load(engine, n):.0f} s)")
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_total_relation_size('calls') + "
                                     "pg_total_relation_size('call_legs')")).scalar_one()
            whole = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        print(f"  calls + legs with indexes: {size / 2**20:.0f} MiB, {size / n:.0f} bytes per "
              f"call; whole database {whole / 2**20:.0f} MiB")
        url = engine.url
        plain = tmp / "plain.pgdump"
        dump = _timed(lambda: subprocess.run(
            [str(find_tool("pg_dump")), "--format=custom", f"--file={plain}",
             f"--dbname={conninfo(url, 'bench')}"], env=tool_env(url), check=True))
        _row("baseline: pg_dump -Fc", dump, None, f"{plain.stat().st_size / 2**20:.0f} MiB")
        settings = Settings(database={"url": url.render_as_string(hide_password=False)},
                            recordings={"store_dir": tmp / "store"},
                            backup={"dir": tmp / "backups"})
        result = None

        def backup() -> None:
            nonlocal result
            result = make_backup(settings, engine)

        took = _timed(backup)
        assert result is not None
        _row("hotline backup (snapshot, pg_dump, index, checks)", took, dump,
             f"{result.size_bytes / 2**20:.0f} MiB")
        engine.dispose()
        restore_url = urls[1]
        base = _timed(lambda: subprocess.run(
            [str(find_tool("pg_restore")), "--no-owner", "--no-privileges",
             f"--dbname={conninfo(restore_url, 'bench')}", str(plain)],
            env=tool_env(restore_url), check=True))
        _row("baseline: pg_restore --dbname", base, None)
        target = Settings(database={"url": urls[2].render_as_string(hide_password=False)},
                          recordings={"store_dir": tmp / "store2"},
                          backup={"dir": tmp / "backups"})
        _row("hotline restore (checks, one transaction, verify)",
             _timed(lambda: restore_backup(target, result.path)), base)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if server is not None:
            server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        bench_sqlite(args.calls)
    if args.db in ("postgresql", "both"):
        bench_postgres(args.calls)


if __name__ == "__main__":
    main()
