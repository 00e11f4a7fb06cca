from __future__ import annotations

import click

from hotline.cli.context import CliContext


@click.group("db")
def command() -> None:
    """Create and migrate the database."""


@command.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_obj
def upgrade(obj: CliContext, revision: str) -> None:
    """Create or migrate the schema to the newest (or the given) revision."""
    from hotline.db import migrate

    migrate.upgrade(obj.engine, revision)
    click.echo(f"database {obj.settings.database.display_url()} at revision {migrate.current(obj.engine)}")


@command.command("downgrade")
@click.argument("revision")
@click.pass_obj
def downgrade(obj: CliContext, revision: str) -> None:
    """Migrate the schema down to REVISION ("base" removes every table)."""
    from hotline.db import migrate

    migrate.downgrade(obj.engine, revision)
    click.echo(f"database at revision {migrate.current(obj.engine) or 'base'}")


@command.command("current")
@click.pass_obj
def current(obj: CliContext) -> None:
    """Print the schema revision of the database."""
    from hotline.db import migrate

    click.echo(migrate.current(obj.engine) or "base (empty database)")
