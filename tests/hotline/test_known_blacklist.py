"""While the database cannot be read, blacklist lookups answer from the last copy read."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from hotline.crm.known_blacklist import KnownBlacklist
from hotline.db.models import BlacklistEntry
from tests.outages import database_unreachable

LISTED, OTHER = "+8613800138000", "+8613900139000"


def test_lookups_answer_from_the_copy_while_the_database_is_away(
    engine: Engine, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    with sessions.begin() as s:
        s.add(BlacklistEntry(phone=LISTED, reason="extortion attempts"))
    known = KnownBlacklist(sessions, name="IVR")
    assert known.lookup(LISTED) is True and known.lookup(OTHER) is False  # from the database

    with caplog.at_level(logging.WARNING, logger="hotline.crm.known_blacklist"), database_unreachable(engine):
        with pytest.raises(DBAPIError), sessions() as s:  # the database really is away
            s.get(BlacklistEntry, 1)
        assert [known.lookup(LISTED) for _ in range(3)] == [True] * 3
        assert known.lookup(OTHER) is False
    assert known.answered_from_copy == 4
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "answering from the copy" in warnings[0] and "1 numbers" in warnings[0]

    # back: a number blacklisted since counts at once, and the log says the database is back
    with sessions.begin() as s:
        s.add(BlacklistEntry(phone=OTHER, reason="malicious complaints (rule 3.4)"))
    with caplog.at_level(logging.WARNING, logger="hotline.crm.known_blacklist"):
        assert known.lookup(OTHER) is True
    assert "answers blacklist lookups again" in caplog.records[-1].getMessage()
    assert known.answered_from_copy == 4


def test_without_a_copy_the_database_error_is_raised(engine: Engine, sessions: sessionmaker[Session]) -> None:
    known = KnownBlacklist(sessions)
    with database_unreachable(engine), pytest.raises(DBAPIError):
        known.lookup(LISTED)


def test_the_copy_is_read_again_when_old(engine: Engine, sessions: sessionmaker[Session]) -> None:
    now = [0.0]
    known = KnownBlacklist(sessions, max_age=60, clock=lambda: now[0])
    assert known.lookup(OTHER) is False  # copy read at 0: empty
    with sessions.begin() as s:
        s.add(BlacklistEntry(phone=LISTED, reason="extortion attempts"))
    now[0] = 59.0
    known.lookup(OTHER)  # copy still the one read at 0
    with database_unreachable(engine):
        assert known.lookup(LISTED) is False  # the copy did not know it yet
    now[0] = 61.0
    known.lookup(OTHER)  # read again
    with database_unreachable(engine):
        assert known.lookup(LISTED) is True
