from __future__ import annotations

import click

from hotline.cli.context import CliContext


@click.command("serve")
@click.option("--no-migrate", is_flag=True, help="Do not upgrade the database schema first.")
@click.pass_obj
def command(obj: CliContext, no_migrate: bool) -> None:
    """Run hotline: the AMI bridge, the IVR (FastAGI), recordings, the scheduler and the web
    pages, wired as in hotline.app, until Ctrl-C or SIGTERM.

    Before anything is touched, the call flows and the prompt catalogue are checked (as by
    `hotline flows check`): with a bad one, every problem is printed as FILE:LINE: REASON and
    hotline exits with status 1 without migrating the database or opening a port. Then the
    database schema is upgraded (unless --no-migrate) and the services start.
    """
    from hotline.app import serve
    from ivr.service import load_ivr_data
    from ivr.yamldoc import InvalidFileError

    settings = obj.settings
    try:
        ivr_data = load_ivr_data(settings)
    except InvalidFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        files = len({p.file for p in exc.problems})
        click.echo(
            f"hotline serve: not started: {len(exc.problems)} problem(s) in {files} call flow "
            "or prompt file(s); fix them (check with `hotline flows check`)",
            err=True,
        )
        raise SystemExit(1) from None
    if not no_migrate:
        from hotline.db import migrate

        migrate.upgrade(obj.engine)
    try:
        serve(settings, obj.engine, ivr_data=ivr_data)
    except OSError as exc:  # a port already taken, most often
        raise click.ClickException(f"hotline serve stopped: {exc}") from None
