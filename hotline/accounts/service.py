"""Creating users and their agent seats."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.accounts.passwords import hash_password
from hotline.db.models import Agent, User
from hotline.domain.enums import Role


class AccountError(ValueError):
    """A user or agent that cannot be created as asked; the message names the field."""


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str = "",
    extension: str | None = None,
    interface: str | None = None,
) -> User:
    """Create a user (and an agent seat when ``extension`` is given)."""
    username = username.strip()
    if not username:
        raise AccountError("username: is required")
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise AccountError(f"role: {role!r} is not one of {allowed}") from None
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"username: {username!r} already exists")
    try:
        pw_hash = hash_password(password)
    except ValueError as exc:
        raise AccountError(f"password: {exc}") from None
    user = User(username=username, password_hash=pw_hash, role=role, display_name=display_name)
    session.add(user)
    if extension:
        extension = extension.strip()
        iface = interface or f"PJSIP/{extension}"
        clash = session.scalar(
            select(Agent.id).where((Agent.extension == extension) | (Agent.interface == iface))
        )
        if clash is not None:
            raise AccountError(f"extension: {extension!r} already belongs to another agent")
        user.agent = Agent(extension=extension, interface=iface)
    session.flush()
    return user
