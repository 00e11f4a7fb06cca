from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from hotline.cli.context import CliContext

TABLES = ("calls", "agents", "rings", "deadlines", "complaints", "member-coverage",
          "recordings", "scorecard")


@click.group("report")
def command() -> None:
    """Build reports from the command line (the same figures as the web pages)."""


@command.command("digest")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Local day (default: today in the hotline's zone).")
@click.pass_obj
def digest(obj: CliContext, day: dt.datetime | None) -> None:
    """Build and keep the complaint and feedback digest of a day (replacing an older build)."""
    from hotline.db.session import session_factory, transaction
    from hotline.reports.context import ReportContext
    from hotline.reports.digest import build_digest

    settings = obj.settings
    ctx = ReportContext.from_settings(settings)
    target = day.date() if day else dt.datetime.now(settings.tz).date()
    with transaction(session_factory(obj.engine)) as session:
        built = build_digest(session, target, ctx)
        counts = built.content["counts"]
    click.echo(f"digest {target}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@command.command("export")
@click.argument("table", type=click.Choice(TABLES))
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="First local day.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="Last local day (included).")
@click.option("--group", default="day", show_default=True,
              type=click.Choice(["hour", "day", "week", "month", "hour_of_day", "category",
                                 "queue"]),
              help="Grouping of the calls table.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write; .csv or .xlsx.")
@click.pass_obj
def export(obj: CliContext, table: str, start: dt.datetime, end: dt.datetime, group: str,
           output: Path) -> None:
    """Write a report TABLE for a period to a CSV or XLSX file."""
    from hotline.db.session import session_factory
    from hotline.domain.errors import InvalidInput
    from hotline.reports.agents import agent_figures
    from hotline.reports.calls import CallGrouping, call_figures
    from hotline.reports.context import ReportContext
    from hotline.reports.coverage import member_coverage
    from hotline.reports.deadlines import complaint_figures, deadline_figures
    from hotline.reports.export import to_csv, to_xlsx
    from hotline.reports.period import Period
    from hotline.reports.recordings import recording_figures
    from hotline.reports.rings import ring_distribution
    from hotline.reports.scorecard import agent_scorecard

    if output.suffix not in (".csv", ".xlsx"):
        raise click.BadParameter("must end in .csv or .xlsx", param_hint="--output")
    settings = obj.settings
    ctx = ReportContext.from_settings(settings)
    try:
        period = Period.days(start.date(), end.date(), settings.tz)
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    now = dt.datetime.now(dt.UTC)
    builders = {
        "calls": lambda s: call_figures(s, period, ctx, CallGrouping(group)),
        "agents": lambda s: agent_figures(s, period, ctx),
        "rings": lambda s: ring_distribution(s, period, ctx),
        "deadlines": lambda s: deadline_figures(s, period, now),
        "complaints": lambda s: complaint_figures(s, period, now),
        "member-coverage": lambda s: member_coverage(s, period),
        "recordings": lambda s: recording_figures(s, period),
        "scorecard": lambda s: agent_scorecard(s, period, ctx, now),
    }
    with session_factory(obj.engine)() as session:
        result = builders[table](session)
    output.write_bytes(to_csv(result) if output.suffix == ".csv" else to_xlsx(result))
    click.echo(f"{result.title}: {len(result.rows)} rows written to {output}")
