"""``hotline web``: a web-only worker, for running more web processes beside the
``hotline serve`` process(es) on PostgreSQL."""

from __future__ import annotations

import click

from hotline.cli.context import CliContext


@click.command("web")
@click.option("--host", default=None, help="Address to listen on (default: web.host).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on (default: web.port).")
@click.option("--migrate", "do_migrate", is_flag=True,
              help="Upgrade the database schema first (by default a web worker leaves that to "
                   "`hotline serve` or `hotline db upgrade`).")
@click.pass_obj
def command(obj: CliContext, host: str | None, port: int | None, do_migrate: bool) -> None:
    """Run the web pages and API only, on web.host:web.port, until Ctrl-C or SIGTERM: no AMI
    bridge, IVR or scheduler, so any number of these can run behind a load balancer.

    Pages, reports, the CRM, recordings and logins work as in `hotline serve` (sessions,
    tokens and the login throttle live in the database; set web.session_secret to the same
    value everywhere). The live feed (/api/live: the desk's caller card, the wallboard) comes
    from the bridges through PostgreSQL LISTEN/NOTIFY (web.live_relay = "auto"); on SQLite,
    or with web.live_relay = "off", it answers 503. Agent control (ready, pause, log in/out)
    needs the bridge and answers 503 here: send agents to a `hotline serve` process for it.
    """
    from hotline.app import serve_web

    settings = obj.settings
    web = settings.web.model_copy(update={k: v for k, v in (("host", host), ("port", port))
                                           if v is not None})
    settings = settings.model_copy(update={"web": web})
    if do_migrate:
        from hotline.db import migrate

        migrate.upgrade(obj.engine)
    try:
        serve_web(settings, obj.engine)
    except OSError as exc:  # a port already taken, most often
        raise click.ClickException(f"hotline web stopped: {exc}") from None
