from __future__ import annotations

import click

from hotline.cli.context import CliContext


@click.command("serve")
@click.option("--no-migrate", is_flag=True, help="Do not upgrade the database schema first.")
@click.pass_obj
def command(obj: CliContext, no_migrate: bool) -> None:
    """Run hotline: migrations, then the services wired in hotline.app."""
    from hotline.app import serve

    settings = obj.settings
    if not no_migrate:
        from hotline.db import migrate

        migrate.upgrade(obj.engine)
    serve(settings, obj.engine)
