"""Slowing down password guessing, per username and per client address, in the database so
that it holds across requests, worker processes and restarts.

Within the policy's window, once a key has more failures than it is allowed for free, it is
locked for a delay that doubles with every further failure (capped). A locked key is refused
before the password is even checked, so a guesser gains nothing by hammering.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.db.models import LoginThrottle
from hotline.web.services import ThrottlePolicy


def user_key(username: str) -> str:
    return "user:" + username.strip().lower()[:120]


def client_key(client: str | None) -> str:
    return "client:" + (client or "unknown")[:64]


def retry_after(session: Session, keys: list[str], now: dt.datetime) -> int:
    """Seconds until the first of ``keys`` is unlocked (0 when none is locked)."""
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    wait = 0.0
    for row in rows:
        if row.locked_until is not None and row.locked_until > now:
            wait = max(wait, (row.locked_until - now).total_seconds())
    return math.ceil(wait)


def _free(policy: ThrottlePolicy, key: str) -> int:
    return policy.user_free if key.startswith("user:") else policy.client_free


def record_failure(
    session: Session, keys: list[str], now: dt.datetime, policy: ThrottlePolicy
) -> None:
    window = dt.timedelta(seconds=policy.window)
    for key in keys:
        row = session.scalar(
            select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
        )
        if row is None:
            row = LoginThrottle(key=key, failures=0, first_failed_at=now, last_failed_at=now)
            try:
                with session.begin_nested():
                    session.add(row)
                    session.flush()
            except IntegrityError:  # a concurrent first failure created it
                row = session.scalar(
                    select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
                )
                assert row is not None
        if now - row.last_failed_at > window:
            row.failures, row.first_failed_at = 0, now
        row.failures += 1
        row.last_failed_at = now
        over = row.failures - _free(policy, key)
        if over >= 0:
            delay = min(policy.base_delay * 2 ** min(over, 30), policy.max_delay)
            row.locked_until = now + dt.timedelta(seconds=delay)
    session.flush()


def record_success(session: Session, username: str) -> None:
    """A correct password clears the username's failures (not the client's: one valid
    account must not reset a guesser's address)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == user_key(username)))
