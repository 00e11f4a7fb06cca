from __future__ import annotations

import datetime as dt

import click

from hotline.cli.context import CliContext


@click.group("token")
def command() -> None:
    """Manage API bearer tokens for integrations (stored as digests only)."""


@command.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. 'BI export'.")
@click.option("--days", type=click.IntRange(1, 3650), default=None,
              help="Expire after this many days (default: never).")
@click.pass_obj
def create(obj: CliContext, username: str, name: str, days: int | None) -> None:
    """Create a token acting as USERNAME; it is printed once and cannot be shown again."""
    from sqlalchemy import select

    from hotline.accounts.audit import audit
    from hotline.accounts.tokens import issue_token
    from hotline.db.models import User
    from hotline.db.session import session_factory, transaction
    from hotline.domain.errors import InvalidInput

    now = dt.datetime.now(dt.UTC)
    with transaction(session_factory(obj.engine)) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"username: {username!r} does not exist")
        try:
            issued = issue_token(session, user_id=user.id, name=name, created_by_id=None,
                                 expires_at=now + dt.timedelta(days=days) if days else None,
                                 now=now)
        except InvalidInput as exc:
            raise click.ClickException(str(exc)) from None
        audit(session, "token.create", actor_id=None, object_type="api_token",
              object_id=issued.token.id, details={"user_id": user.id, "name": name,
                                                  "via": "cli"})
        click.echo(f"token #{issued.token.id} for {username} ({user.role.value}):")
        click.echo(issued.secret)


@command.command("list")
@click.pass_obj
def list_tokens(obj: CliContext) -> None:
    """List tokens (never their secrets)."""
    from sqlalchemy import select

    from hotline.db.models import ApiToken, User
    from hotline.db.session import session_factory

    with session_factory(obj.engine)() as session:
        rows = session.execute(select(ApiToken, User.username).join(User,
                                                                    User.id == ApiToken.user_id))
        for token, username in rows:
            state = "revoked" if token.revoked_at else "active"
            click.echo(f"#{token.id}  {token.prefix}…  {username:<16} {token.name:<24} {state}")


@command.command("revoke")
@click.argument("token_id", type=int)
@click.pass_obj
def revoke(obj: CliContext, token_id: int) -> None:
    """Revoke token TOKEN_ID; it stops working at once."""
    from hotline.accounts.audit import audit
    from hotline.accounts.tokens import revoke_token
    from hotline.db.session import session_factory, transaction

    with transaction(session_factory(obj.engine)) as session:
        try:
            revoke_token(session, token_id)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        audit(session, "token.revoke", actor_id=None, object_type="api_token",
              object_id=token_id, details={"via": "cli"})
    click.echo(f"token #{token_id} revoked")
