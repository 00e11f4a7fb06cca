"""Test data built straight through the models, with one argon2 hash computed once (hashing
costs ~0.1 s by design; the real path, ``add_user``, has its own tests)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import Session

from hotline.accounts.passwords import hash_password
from hotline.db.models import Agent, User
from hotline.domain.enums import Role

TEST_PASSWORD = "correct horse battery"


@lru_cache(maxsize=1)
def password_hash() -> str:
    return hash_password(TEST_PASSWORD)


def make_user(session: Session, username: str, role: Role | str, extension: str | None = None) -> User:
    user = User(username=username, role=Role(role), password_hash=password_hash(), display_name=username)
    if extension:
        user.agent = Agent(extension=extension, interface=f"PJSIP/{extension}")
    session.add(user)
    session.flush()
    return user
