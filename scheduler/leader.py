"""Leader election: only one scheduler dials at a time, across machines.

On PostgreSQL a session-level advisory lock (``pg_try_advisory_lock``) on a connection kept
open for the purpose elects the leader; it is released by the server the moment that session
ends, so a crashed leader's machine cannot keep it. On SQLite (one machine) an exclusive
``flock`` on a file next to the database does the same.

Each election increments ``scheduler_leader.epoch``; attempts carry the epoch of the leader
that wrote them (fencing). A leader's lease is *valid* only until ``lease_seconds`` after its
last successful heartbeat (a round trip on the lock's own connection plus an update of the row
guarded by its epoch). The dialler sends an Originate only while the lease is valid, and a new
leader waits ``lease_seconds`` before resolving attempts of older epochs: by then an old
leader that lost its lock has stopped sending (scheduler/dialler.py).

All methods block (database and file I/O): call them in a worker thread from async code.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, select, text, update
from sqlalchemy.engine import Connection

from hotline.db.models import SchedulerLeader
from hotline.db.session import session_factory

log = logging.getLogger(__name__)

# The advisory lock key: "hotl" "sche" as two 32-bit halves of one bigint.
ADVISORY_KEY = 0x686F746C_73636865
ROW_ID = 1


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def sqlite_lock_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise ValueError("leader election on SQLite needs a database file")
    return Path(database).with_name(Path(database).name + ".scheduler.lock")


class LeaderLease:
    def __init__(
        self,
        engine: Engine,
        *,
        lease_seconds: float,
        holder: str | None = None,
        lock_path: Path | None = None,
    ) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.holder = holder or default_holder()
        self.epoch: int | None = None
        self.acquired_monotonic: float | None = None
        self._valid_until = 0.0
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None
        self._sessions = session_factory(engine)
        self._postgres = engine.dialect.name == "postgresql"
        self._lock_path = lock_path if lock_path is not None else (
            None if self._postgres else sqlite_lock_path(engine)
        )

    # -- state -------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        return self.epoch is not None

    def valid(self) -> bool:
        """True while this process may send Originates."""
        return self.held and time.monotonic() < self._valid_until

    def seconds_since_acquired(self) -> float:
        if self.acquired_monotonic is None:
            return 0.0
        return time.monotonic() - self.acquired_monotonic

    # -- acquire / heartbeat / release -----------------------------------------------
    def try_acquire(self) -> bool:
        if self.held:
            return True
        started = time.monotonic()
        if not self._lock():
            return False
        try:
            self.epoch = self._bump_epoch()
        except Exception:
            self._unlock()
            raise
        self.acquired_monotonic = started
        self._valid_until = started + self.lease_seconds
        log.info("scheduler %s is the leader (epoch %d)", self.holder, self.epoch)
        return True

    def heartbeat(self) -> bool:
        """Confirm the lock is still ours; False (and the lease dropped) when it is not."""
        if not self.held:
            return False
        started = time.monotonic()
        try:
            if self._conn is not None:
                self._conn.execute(text("SELECT 1"))
            with self._sessions() as s, s.begin():
                rows = s.execute(
                    update(SchedulerLeader)
                    .where(SchedulerLeader.id == ROW_ID, SchedulerLeader.epoch == self.epoch)
                    .values(heartbeat_at=dt.datetime.now(dt.UTC))
                ).rowcount
            if rows != 1:
                log.error("scheduler %s: another leader took over; standing down", self.holder)
                self.release()
                return False
        except Exception as exc:
            log.error("scheduler %s lost its leader lock (%s); standing down", self.holder, exc)
            self.release()
            return False
        self._valid_until = started + self.lease_seconds
        return True

    def release(self) -> None:
        self.epoch = None
        self.acquired_monotonic = None
        self._valid_until = 0.0
        self._unlock()

    # -- internals --------------------------------------------------------------------
    def _lock(self) -> bool:
        if self._postgres:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True
        import fcntl

        assert self._lock_path is not None
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self._lock_path, "ab")  # noqa: SIM115 - held open for the lease's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._file = fh
        return True

    def _unlock(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # The connection must not go back to the pool still holding the lock: unlock,
            # and discard the connection whatever happens, which ends the server session
            # (and with it any lock it still holds).
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            except Exception:  # pragma: no cover - the connection may already be dead
                pass
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # pragma: no cover
                pass
        if self._file is not None:
            self._file.close()  # closing the file releases the flock
            self._file = None

    def _bump_epoch(self) -> int:
        now = dt.datetime.now(dt.UTC)
        with self._sessions() as s, s.begin():
            row = s.scalar(select(SchedulerLeader).where(SchedulerLeader.id == ROW_ID))
            if row is None:
                row = SchedulerLeader(id=ROW_ID, epoch=0, holder="")
                s.add(row)
            row.epoch = (row.epoch or 0) + 1
            row.holder = self.holder[:255]
            row.acquired_at = now
            row.heartbeat_at = now
            s.flush()
            return row.epoch


def current_leader(engine: Engine) -> SchedulerLeader | None:
    """The row naming the last elected leader (for ``hotline tasks status``)."""
    with session_factory(engine)() as s:
        return s.scalar(select(SchedulerLeader).where(SchedulerLeader.id == ROW_ID))
