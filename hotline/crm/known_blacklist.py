"""The blacklist as last read from the database, for the moments it cannot be read.

Per-call lookups still ask the database, so a number blacklisted a moment ago (by an agent's
one-step blacklist, or on another hotline process) counts at once. Only when that lookup
fails (PostgreSQL restarting, the network to it down) does this copy answer, so a
blacklisted caller is still recorded from the start and kept from ordinary agents during the
outage, instead of being taken for an ordinary caller with a traceback per call in the log.
The copy is the whole table's numbers (a few hundred to a few thousand strings), read again
by the first lookup after it is ``max_age`` seconds old.

Blocking: call :meth:`KnownBlacklist.lookup` from a worker thread, as the services do for all
their SQL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.errors import first_line
from hotline.db.models import BlacklistEntry

log = logging.getLogger(__name__)


class KnownBlacklist:
    def __init__(self, sessions: sessionmaker[Session], *, max_age: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, name: str = "hotline") -> None:
        self.sessions = sessions
        self.max_age = max_age
        self.clock = clock
        self.name = name  # who is asking, for the log
        self._phones: frozenset[str] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()
        self._outage = False
        self.answered_from_copy = 0  # lookups answered by the copy (during outages)

    def lookup(self, phone: str) -> bool:
        """Is this E.164 number on the blacklist? The database's answer when it has one, the
        last copy's when it does not; raises the database error only if no copy was ever read."""
        try:
            with self.sessions() as session:
                found = session.scalar(select(BlacklistEntry.id).where(BlacklistEntry.phone == phone))
                if self._phones is None or self.clock() - self._read_at >= self.max_age:
                    self._read_all(session)
        except DBAPIError as exc:
            if self._phones is None:
                raise
            self._note_outage(exc)
            self.answered_from_copy += 1
            return phone in self._phones
        if self._outage:
            self._outage = False
            log.warning("%s: the database answers blacklist lookups again", self.name)
        return found is not None

    def _read_all(self, session: Session) -> None:
        phones = frozenset(session.scalars(select(BlacklistEntry.phone)))
        with self._lock:
            self._phones, self._read_at = phones, self.clock()

    def _note_outage(self, exc: DBAPIError) -> None:
        with self._lock:
            if self._outage:
                return
            self._outage = True
        age = self.clock() - self._read_at
        log.warning("%s: blacklist lookups cannot reach the database (%s); answering from the "
                    "copy read %.0f s ago (%d numbers) until it is back",
                    self.name, first_line(exc), age, len(self._phones or ()))
