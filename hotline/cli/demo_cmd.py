from __future__ import annotations

import click

from hotline.cli.context import CliContext

DEMO_PASSWORD = "hotline-demo"
DEMO_USERS = (
    ("supervisor", "supervisor", None, "演示主管 Demo Supervisor"),
    ("agent", "agent", "1001", "演示坐席 Demo Agent"),
)


@click.command("demo")
@click.pass_obj
def command(obj: CliContext) -> None:
    """Try hotline on the embedded defaults: migrate, create demo logins, start everything."""
    from sqlalchemy import select

    from hotline.accounts.service import add_user
    from hotline.app import serve
    from hotline.db import migrate
    from hotline.db.models import User
    from hotline.db.session import session_factory, transaction

    settings = obj.settings
    migrate.upgrade(obj.engine)
    with transaction(session_factory(obj.engine)) as session:
        for username, role, extension, name in DEMO_USERS:
            if session.scalar(select(User.id).where(User.username == username)) is None:
                add_user(session, username=username, password=DEMO_PASSWORD, role=role,
                         display_name=name, extension=extension)
    url = f"http://{settings.web.host}:{settings.web.port}/"
    click.echo(f"hotline demo on {url}")
    for username, role, _, _ in DEMO_USERS:
        click.echo(f"  {role:<10} login: {username} / {DEMO_PASSWORD}")
    click.echo("Ctrl-C stops it.")
    serve(settings, obj.engine)
