"""``hotline tasks``: outbound tasks as agents and supervisors see them, and the scheduler's
rules, plans, campaigns and leave records."""

from __future__ import annotations

import datetime as dt

import click

from hotline.cli.context import CliContext


def _parse_time(value: str | None, field: str, obj: CliContext) -> dt.datetime | None:
    """ISO time; a time without zone is read in the hotline's zone."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date/time (2026-11-23T10:00)",
                                 param_hint=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=obj.settings.tz)
    return moment.astimezone(dt.UTC)


def _now(obj: CliContext, at: str | None) -> dt.datetime:
    return _parse_time(at, "--at", obj) or dt.datetime.now(dt.UTC)


def _local(obj: CliContext, moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(obj.settings.tz).strftime("%Y-%m-%d %H:%M")


def _agent_id(session, extension: str | None) -> int | None:  # type: ignore[no-untyped-def]
    if extension is None:
        return None
    from sqlalchemy import select

    from hotline.db.models import Agent

    agent_id = session.scalar(select(Agent.id).where(Agent.extension == extension))
    if agent_id is None:
        raise click.BadParameter(f"no agent with extension {extension}", param_hint="--agent")
    return int(agent_id)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group("tasks")
def command() -> None:
    """Outbound callbacks and return visits: lists, rules, plans, campaigns, leave."""


@command.command("list")
@click.option("--agent", "extension", help="Only this agent's tasks (extension).")
@click.option("--today", is_flag=True, help="The agent's follow-ups due by the end of today.")
@click.option("--overdue", is_flag=True, help="Open tasks past their deadline.")
@click.option("--at", help="Pretend it is this time (ISO; default now).")
@click.pass_obj
def list_tasks(obj: CliContext, extension: str | None, today: bool, overdue: bool,
               at: str | None) -> None:
    """List open tasks (pending, dialling, waiting for their return-visit record)."""
    from sqlalchemy import select

    from hotline.db.models import OutboundTask
    from hotline.db.session import session_factory
    from scheduler.queries import WORKLIST_STATUSES, overdue_tasks, todays_follow_ups
    from scheduler.windows import WindowPolicy

    now = _now(obj, at)
    with session_factory(obj.engine)() as s:
        agent_id = _agent_id(s, extension)
        if today:
            if agent_id is None:
                raise click.UsageError("--today needs --agent")
            tasks = todays_follow_ups(s, agent_id, now, WindowPolicy(obj.settings))
        elif overdue:
            tasks = overdue_tasks(s, now, agent_id)
        else:
            query = select(OutboundTask).where(OutboundTask.status.in_(WORKLIST_STATUSES))
            if agent_id is not None:
                query = query.where(OutboundTask.agent_id == agent_id)
            tasks = list(s.scalars(query.order_by(OutboundTask.next_attempt_at, OutboundTask.id)))
        click.echo(f"{'id':>6}  {'type':<22} {'status':<15} {'phone':<15} {'agent':>5}  "
                   f"{'due':<16} {'deadline':<16} tries")
        for t in tasks:
            click.echo(f"{t.id:>6}  {t.type.value:<22} {t.status.value:<15} {t.phone:<15} "
                       f"{t.agent_id or '-':>5}  {_local(obj, t.due_at):<16} "
                       f"{_local(obj, t.deadline_at):<16} {t.attempts}/{t.max_attempts}")
        click.echo(f"{len(tasks)} task(s)")


@command.command("run-rules")
@click.option("--rule", "names", multiple=True, help="Run only this rule (repeatable).")
@click.option("--at", help="Run as of this time (ISO; default now).")
@click.pass_obj
def run_rules(obj: CliContext, names: tuple[str, ...], at: str | None) -> None:
    """Run the rules once (all by default); rules are idempotent, so running them again
    creates nothing twice."""
    from hotline.db.session import session_factory, transaction
    from scheduler.rules import RULES, RuleContext

    unknown = [n for n in names if n not in RULES]
    if unknown:
        raise click.BadParameter(f"unknown rule {unknown[0]!r}; known: {', '.join(RULES)}",
                                 param_hint="--rule")
    now = _now(obj, at)
    for name in names or tuple(RULES):
        with transaction(session_factory(obj.engine)) as s:
            click.echo(str(RULES[name](RuleContext(s, obj.settings, now))))


@command.command("plan")
@click.option("--at", help="Plan as of this time (ISO; default now).")
@click.pass_obj
def plan(obj: CliContext, at: str | None) -> None:
    """Show what the next calling window holds, per task type, and what will be late."""
    from hotline.db.session import session_factory
    from scheduler.planner import plan_window
    from scheduler.windows import WindowPolicy

    with session_factory(obj.engine)() as s:
        p = plan_window(s, WindowPolicy(obj.settings), _now(obj, at))
    for window, (start, end) in p.intervals.items():
        click.echo(f"window {window.value}: {_local(obj, start)} - {_local(obj, end)}")
    for task_type, n in sorted(p.by_type().items()):
        click.echo(f"  {task_type.value:<22} {n}")
    click.echo(f"{len(p.entries)} task(s) planned, {len(p.late())} past their deadline")


@command.command("sla")
@click.option("--since", required=True, help="Deadlines from (ISO date or time).")
@click.option("--until", required=True, help="Deadlines before (ISO date or time).")
@click.pass_obj
def sla(obj: CliContext, since: str, until: str) -> None:
    """SLA compliance per task type: done inside the deadline, late, missed, open."""
    from hotline.db.session import session_factory
    from scheduler.queries import sla_compliance

    start, end = _parse_time(since, "--since", obj), _parse_time(until, "--until", obj)
    assert start is not None and end is not None
    with session_factory(obj.engine)() as s:
        rows = sla_compliance(s, start, end, dt.datetime.now(dt.UTC))
    click.echo(f"{'type':<22} {'total':>6} {'on time':>8} {'late':>6} {'missed':>7} {'open':>6}  %")
    for r in rows:
        pct = "-" if r.compliance is None else f"{r.compliance:.1f}"
        click.echo(f"{r.type.value:<22} {r.total:>6} {r.on_time:>8} {r.late:>6} {r.missed:>7} "
                   f"{r.open:>6}  {pct}")


@command.group("campaign")
def campaign() -> None:
    """Member return-visit campaigns (100% of members must be visited)."""


@campaign.command("open")
@click.argument("name")
@click.option("--start", help="Start (ISO; default now).")
@click.option("--deadline", help="Deadline (ISO).")
@click.pass_obj
def campaign_open(obj: CliContext, name: str, start: str | None, deadline: str | None) -> None:
    """Open a campaign; the next planning tick creates a task per member not yet visited."""
    from hotline.db.session import session_factory, transaction
    from hotline.domain.errors import InvalidInput
    from scheduler.campaigns import open_campaign

    try:
        with transaction(session_factory(obj.engine)) as s:
            c = open_campaign(s, name=name, starts_at=_now(obj, start),
                              deadline_at=_parse_time(deadline, "--deadline", obj))
            click.echo(f"opened campaign #{c.id} {c.name}")
    except InvalidInput as exc:
        raise _fail(exc) from None


@campaign.command("coverage")
@click.argument("campaign_id", type=int)
@click.pass_obj
def campaign_coverage(obj: CliContext, campaign_id: int) -> None:
    """Members visited so far, and those not yet visited."""
    from hotline.db.session import session_factory
    from hotline.domain.errors import InvalidInput
    from scheduler.campaigns import coverage

    try:
        with session_factory(obj.engine)() as s:
            cov = coverage(s, campaign_id)
    except InvalidInput as exc:
        raise _fail(exc) from None
    click.echo(f"{cov.visited} of {cov.members} members visited ({cov.percent}%)")
    for m in cov.missing:
        click.echo(f"  not visited: #{m.customer_id} {m.name} {m.phone}")


@campaign.command("close")
@click.argument("campaign_id", type=int)
@click.pass_obj
def campaign_close(obj: CliContext, campaign_id: int) -> None:
    """Close a campaign; refused while any member has not been visited."""
    from hotline.db.session import session_factory, transaction
    from hotline.domain.errors import InvalidInput
    from scheduler.campaigns import close_campaign

    try:
        with transaction(session_factory(obj.engine)) as s:
            c = close_campaign(s, campaign_id, dt.datetime.now(dt.UTC))
            click.echo(f"closed campaign #{c.id} {c.name}")
    except InvalidInput as exc:
        raise _fail(exc) from None


@command.command("leave")
@click.argument("extension")
@click.option("--from", "starts", required=True, help="Leave starts (ISO).")
@click.option("--to", "ends", required=True, help="Leave ends (ISO).")
@click.option("--reason", default="leave", show_default=True)
@click.pass_obj
def leave(obj: CliContext, extension: str, starts: str, ends: str, reason: str) -> None:
    """Record an agent's leave; their follow-ups go to colleagues before it starts."""
    from hotline.db.session import session_factory, transaction
    from hotline.domain.errors import InvalidInput
    from scheduler.absences import add_absence

    try:
        with transaction(session_factory(obj.engine)) as s:
            a = add_absence(s, agent_id=_agent_id(s, extension) or 0,
                            starts_at=_parse_time(starts, "--from", obj),  # type: ignore[arg-type]
                            ends_at=_parse_time(ends, "--to", obj),  # type: ignore[arg-type]
                            reason=reason)
            click.echo(f"leave #{a.id} recorded for agent {extension}: "
                       f"{_local(obj, a.starts_at)} - {_local(obj, a.ends_at)}")
    except InvalidInput as exc:
        raise _fail(exc) from None


@command.command("status")
@click.pass_obj
def status(obj: CliContext) -> None:
    """Which scheduler leads, and how many tasks are in each state."""
    from sqlalchemy import func, select

    from hotline.db.models import OutboundTask
    from hotline.db.session import session_factory
    from scheduler.leader import current_leader

    leader = current_leader(obj.engine)
    if leader is None:
        click.echo("no scheduler has led yet")
    else:
        click.echo(f"leader: {leader.holder} (epoch {leader.epoch}, last heartbeat "
                   f"{_local(obj, leader.heartbeat_at)})")
    with session_factory(obj.engine)() as s:
        rows = s.execute(select(OutboundTask.status, func.count()).group_by(OutboundTask.status))
        for st, n in sorted(rows.all(), key=lambda r: r[0].value):
            click.echo(f"  {st.value:<16} {n}")
