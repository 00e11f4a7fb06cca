from __future__ import annotations

import click

from hotline.cli.context import CliContext
from hotline.domain.enums import Role


@click.group("user")
def command() -> None:
    """Manage users (agents, team leaders, supervisors, admins)."""


@command.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--extension", default=None, help="Softphone extension; makes the user an agent.")
@click.option("--interface", default=None, help="Asterisk interface (default PJSIP/<extension>).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="HOTLINE_NEW_PASSWORD",
    help="Password (prompted when not given; or set HOTLINE_NEW_PASSWORD).",
)
@click.pass_obj
def add(
    obj: CliContext,
    username: str,
    role: str,
    display_name: str,
    extension: str | None,
    interface: str | None,
    password: str,
) -> None:
    """Add a user; the password is stored as an argon2 hash only."""
    from hotline.accounts.service import AccountError, add_user
    from hotline.db.session import session_factory, transaction

    try:
        with transaction(session_factory(obj.engine)) as session:
            user = add_user(
                session,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
                extension=extension,
                interface=interface,
            )
            seat = f", extension {user.agent.extension}" if user.agent else ""
            click.echo(f"added user {user.username} (#{user.id}, {user.role.value}{seat})")
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
