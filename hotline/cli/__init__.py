"""The ``hotline`` command.

Each command group lives in its own module and is registered here, so a feature adds its
commands without touching the others.
"""

from __future__ import annotations

import sys

import click

from hotline.cli.context import CliContext
from hotline.settings import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="HOTLINE_CONFIG",
    help="TOML configuration file (default: ./hotline.toml when present).",
)
@click.pass_context
def cli(ctx: click.Context, config_file: str | None) -> None:
    """hotline: call-centre backend with IVR for Asterisk."""
    ctx.obj = CliContext(config_file)


def _register() -> None:
    """Add every ``hotline/cli/*_cmd.py`` module's ``command``: a feature adds a file, not an
    edit here."""
    import importlib
    import pkgutil

    package = __name__
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.endswith("_cmd"):
            module = importlib.import_module(f"{package}.{info.name}")
            cli.add_command(module.command)


_register()


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except ConfigError as exc:
        click.echo(f"hotline: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
