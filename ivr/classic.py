"""``hotline-agi``: the same call flows as a classic AGI script, one process per call, for
dialplans that run ``AGI(hotline-agi,inbound)`` instead of connecting to the FastAGI server.

It goes through pyst2's ``asterisk.agi.AGI`` with a thin adapter. pyst2 0.5.1 on Python 3
(checked on this codebase's pinned version; see docs/pyst2.md):

* ``get_result`` reads the ``HANGUP`` notice (or EOF) as a result and crashes with
  ``ValueError: invalid literal for int() with base 10: ''``; a 511 becomes
  ``AGIUnknownError``; a ``result=-1`` raises ``AGIAppError`` and loses the reply, so a missing
  sound file cannot be told from a hang-up. The adapter reads results with
  :func:`ivr.protocol.parse_result` instead and gives the flow the same replies as FastAGI.
* str versus bytes: pyst2 writes ``str``; Asterisk may start the script under a C locale,
  where ``sys.stdin`` is ASCII and a caller name in UTF-8 breaks it. The adapter hands pyst2
  UTF-8 text streams over the raw stdin/stdout.
* SIGHUP: pyst2's handler only raises at the *next* command, so a caller hanging up while the
  flow waits (ringing, hold) would go unnoticed; here SIGHUP sets the channel's hang-up event,
  exactly like FastAGI's ``HANGUP`` notice.
* ``record_file`` parsing is wrong (pyst2 #31); hotline's flows never record through AGI.
* pyst2 writes the environment and every command to stderr, which Asterisk logs; silenced.

What remains of pyst2 is reading the environment and sending commands. Each command runs in a
worker thread (the streams block), so the flow interpreter is the same async code as in the
FastAGI server.

Routing to agents needs the AMI bridge's router, which lives in the ``hotline serve`` process;
a process per call cannot reach it in phase 1, so here every route node finds no agent free:
the caller hears hold music, the apologies and the callback offer. Use FastAGI for routing.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any, TextIO

import click
from asterisk.agi import AGI

from hotline.domain.enums import Role
from hotline.domain.ports import AgentOffer
from ivr.channel import AgiChannel, AgiCommandError, AgiHangup
from ivr.protocol import (
    HANGUP_NOTICE,
    AgiEnvironment,
    AgiReply,
    build_environment,
    parse_result,
    split_script,
)

log = logging.getLogger(__name__)


class _Discard(io.StringIO):
    def write(self, text: str) -> int:
        return len(text)


class Pyst2Agi(AGI):  # type: ignore[misc]
    """pyst2's AGI with the Python 3 problems worked around (see the module docstring)."""

    def __init__(self, stdin: TextIO, stdout: TextIO, on_hangup_notice: Callable[[], None] = lambda: None) -> None:
        # Not AGI.__init__: it installs a SIGHUP handler of its own and dumps to stderr.
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = _Discard()
        self._got_sighup = False
        self.env: dict[str, str] = {}
        self.on_hangup_notice = on_hangup_notice
        self._get_agi_env()

    def _readline(self) -> str:
        raw = self.stdin.readline()
        if raw == "":
            raise EOFError("Asterisk closed the AGI's stdin")
        return raw.rstrip("\r\n")

    def read_reply(self) -> AgiReply:
        """The next result line; HANGUP notices are reported, not returned."""
        while True:
            line = self._readline()
            if line == HANGUP_NOTICE:
                self.on_hangup_notice()
                continue
            if line.startswith("100 "):
                continue
            if line.startswith("520-"):
                usage = []
                while not (nxt := self._readline()).startswith("520 "):
                    usage.append(nxt)
                return AgiReply(code=520, result="", data="\n".join(usage), line=line)
            return parse_result(line)


class Pyst2Channel(AgiChannel):
    """An AGI channel over stdin/stdout of a classic AGI process."""

    def __init__(self, agi: Pyst2Agi, env: AgiEnvironment, *, hangup_grace: float = 0.3) -> None:
        super().__init__(env, hangup_grace=hangup_grace)
        self.agi = agi
        loop = asyncio.get_running_loop()
        agi.on_hangup_notice = lambda: loop.call_soon_threadsafe(self.hung_up.set)

    async def _transact(self, line: str) -> AgiReply:
        return await asyncio.to_thread(self._blocking, line)

    def _blocking(self, line: str) -> AgiReply:
        try:
            self.agi.send_command(line)
            return self.agi.read_reply()
        except (BrokenPipeError, EOFError, OSError) as exc:
            raise AgiHangup(f"Asterisk is gone: {exc}") from None


class NoAgents:
    """The router of a process that cannot reach the bridge: nobody is ever free."""

    async def acquire(
        self,
        call_key: str,
        *,
        roles: frozenset[Role] | None = None,
        exclude: frozenset[int] = frozenset(),
        timeout: float = 0.0,
        wrap_up_ok: bool = False,
    ) -> AgentOffer | None:
        await asyncio.sleep(timeout)
        return None

    def release(self, offer: AgentOffer) -> None:
        return None


def _environment(agi: Pyst2Agi, route: str) -> AgiEnvironment:
    values = dict(agi.env)
    base = build_environment(values)
    path, query = split_script(route)
    return AgiEnvironment(values=base.values, script=path, query=query)


async def _run_call(agi: Pyst2Agi, route: str, settings: Any, data: Any, store: Any) -> int:
    from ivr.service import IvrApplication, call_services

    env = _environment(agi, route)
    channel = Pyst2Channel(agi, env, hangup_grace=settings.ivr.hangup_grace)
    loop = asyncio.get_running_loop()
    _hangup.target = lambda: loop.call_soon_threadsafe(channel.hung_up.set)
    if _hangup.seen:
        channel.hung_up.set()
    services = call_services(settings, router=NoAgents(), store=store)
    app = IvrApplication(data.flows, services, language=settings.ivr.language)
    handler = app.resolve(env)
    if handler is None:
        log.error("hotline-agi: no call flow for route %r", route)
        return 1
    try:
        await handler(channel)
    except AgiHangup as exc:
        log.info("%s: caller gone (%s)", env.uniqueid, exc)
    except AgiCommandError as exc:
        log.error("%s: %s", env.uniqueid, exc)
        return 1
    finally:
        _hangup.target = None
    return 0


class _Hangup:
    """SIGHUP from Asterisk: the caller hung up. A plain signal handler (not the event loop's,
    which asyncio.run removes on exit, leaving SIGHUP's default action to kill the process
    while it closes the database, which Asterisk does send after the flow's own HANGUP)."""

    seen = False
    target: Callable[[], object] | None = None

    @classmethod
    def handler(cls, signum: int, frame: Any) -> None:
        cls.seen = True
        if cls.target is not None:
            try:
                cls.target()
            except RuntimeError:  # the loop is already closed
                pass


_hangup = _Hangup


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("route", default="inbound")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="HOTLINE_CONFIG",
              help="TOML configuration file (default: ./hotline.toml when present).")
def cli(route: str, config_file: str | None) -> None:
    """Run one call's flow as a classic AGI script: AGI(hotline-agi,ROUTE) in the dialplan.

    ROUTE picks the flow like the path of a FastAGI URL (default: inbound; a query such as
    inbound?lang=en is allowed). Asterisk speaks AGI on stdin/stdout; SIGHUP means the caller
    hung up. Routing to agents needs the FastAGI server (see docs/pyst2.md).
    """
    sys.exit(run(route, config_file))


def run(route: str, config_file: str | None) -> int:
    signal.signal(signal.SIGHUP, _hangup.handler)  # before anything slow: the caller may leave
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="\n")
    stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", write_through=True)

    from hotline.logging_setup import configure_logging
    from hotline.settings import ConfigError, load_settings

    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        print(f"hotline-agi: {exc}", file=sys.stderr)
        return 2
    configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level, settings.secret_values())
    agi = Pyst2Agi(stdin, stdout)
    if not agi.env:
        print("hotline-agi: no AGI environment on stdin (run it from Asterisk: AGI(hotline-agi,inbound))",
              file=sys.stderr)
        return 1

    from hotline.db.session import engine_from_settings, session_factory
    from ivr.service import load_ivr_data
    from ivr.store import SqlCallStore
    from ivr.yamldoc import InvalidFileError

    try:
        data = load_ivr_data(settings)
    except InvalidFileError as exc:
        print(f"hotline-agi: refusing bad flows:\n{exc}", file=sys.stderr)
        return 1
    engine = engine_from_settings(settings)
    try:
        return asyncio.run(_run_call(agi, route, settings, data, SqlCallStore(session_factory(engine), settings)))
    finally:
        # The call is over; Asterisk's SIGHUP may still come (it follows the flow's own HANGUP)
        # and Python resets its handlers to the default (terminate) while shutting down.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        engine.dispose()


def main() -> None:
    cli()
