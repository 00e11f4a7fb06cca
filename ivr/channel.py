"""One call's AGI channel as the flow interpreter sees it: typed commands with Asterisk's
hang-up semantics worked out once, whatever carries them (a FastAGI socket, or stdin/stdout
of a classic AGI process through pyst2).

How a hang-up shows, from the captures of a real Asterisk 22:

* the running command returns ``200 result=-1`` and a ``HANGUP`` notice follows ~40 ms
  later; the socket stays open;
* afterwards most commands get ``511`` (GET VARIABLE and VERBOSE still work);
* ``-1`` alone is ambiguous for STREAM FILE / GET DATA: a missing sound file gives the same
  ``200 result=-1 endpos=0`` on a live channel. So after a ``-1`` the channel waits a short
  grace for the notice: notice -> the caller is gone; none -> the prompt failed (logged) and
  the call goes on.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from ivr.protocol import AgiEnvironment, AgiReply, command_line, quote_arg

log = logging.getLogger(__name__)


class AgiHangup(Exception):
    """The caller is gone (result -1 confirmed by HANGUP, 511, or the connection closed)."""


class AgiCommandError(Exception):
    """Asterisk refused a command (510 unknown, 520 usage, or an unexpected code); the
    session ends, because the flow can no longer know the channel's state."""

    def __init__(self, command: str, reply: AgiReply) -> None:
        self.command = command
        self.reply = reply
        super().__init__(f"{command!r} refused: {reply.line}")


class AgiChannel(ABC):
    """The commands a call flow uses. Subclasses only move lines (:meth:`_transact`)."""

    def __init__(self, env: AgiEnvironment, *, hangup_grace: float = 0.3) -> None:
        self.env = env
        self.hangup_grace = hangup_grace
        # Set by the transport when Asterisk sends HANGUP, the socket closes, or SIGHUP.
        self.hung_up = asyncio.Event()
        self.commands_sent = 0

    @property
    def label(self) -> str:
        return self.env.uniqueid or self.env.channel or "?"

    @abstractmethod
    async def _transact(self, line: str) -> AgiReply:
        """Send one command line and return its result (raise AgiHangup on EOF)."""

    async def close(self) -> None:  # noqa: B027 - transports override when they own a socket
        """Release the transport."""

    # -- plumbing ---------------------------------------------------------------------------

    async def send(self, line: str, *, allow_dead: bool = False) -> AgiReply:
        """One command; 200 comes back, 511 raises AgiHangup, any other code AgiCommandError."""
        if self.hung_up.is_set() and not allow_dead:
            raise AgiHangup(f"caller gone before {line.split(' ', 2)[:2]}")
        self.commands_sent += 1
        log.debug("%s >> %s", self.label, line)
        reply = await self._transact(line)
        log.debug("%s << %s", self.label, reply.line)
        if reply.code == 200:
            return reply
        if reply.code == 511:
            self.hung_up.set()
            raise AgiHangup(f"dead channel: {line!r} got {reply.line!r}")
        raise AgiCommandError(line, reply)

    async def caller_gone(self) -> bool:
        """After a -1: True when the caller hung up (the HANGUP notice arrives within the
        grace), False when the channel is still there (the command itself failed)."""
        if self.hung_up.is_set():
            return True
        try:
            await asyncio.wait_for(self.hung_up.wait(), self.hangup_grace)
        except TimeoutError:
            return False
        return True

    async def wait_hangup(self) -> None:
        await self.hung_up.wait()

    # -- commands ---------------------------------------------------------------------------

    async def ringing(self) -> None:
        """EXEC Ringing: 180 to the caller; ringing starts when this returns."""
        reply = await self.send("EXEC Ringing")
        if reply.value == -1 and await self.caller_gone():
            raise AgiHangup("caller gone during EXEC Ringing")

    async def answer(self) -> None:
        reply = await self.send("ANSWER")
        if reply.value == -1:
            self.hung_up.set()
            raise AgiHangup("ANSWER failed: caller gone")

    async def stream_file(self, path: str, escape_digits: str = "") -> str:
        """Play a sound file (absolute path without extension). Returns the digit that
        interrupted it, or ''. A file that does not play is logged and skipped."""
        reply = await self.send(command_line("STREAM FILE", quote_arg(path), quote_arg(escape_digits)))
        value = reply.value
        if value == -1:
            if await self.caller_gone():
                raise AgiHangup(f"caller gone during STREAM FILE {path}")
            log.error("%s: prompt %s did not play (missing or unreadable file?)", self.label, path)
            return ""
        return chr(value) if value else ""

    async def get_data(self, path: str, timeout: float, max_digits: int) -> str | None:
        """Play ``path`` and collect up to ``max_digits`` DTMF digits. Returns the digits
        ('' for a lone '#'), or None when the caller pressed nothing before ``timeout``
        seconds."""
        ms = max(1, round(timeout * 1000))
        reply = await self.send(command_line("GET DATA", quote_arg(path), str(ms), str(max_digits)))
        if reply.result == "-1":
            if await self.caller_gone():
                raise AgiHangup(f"caller gone during GET DATA {path}")
            log.error("%s: menu prompt %s did not play (missing or unreadable file?)", self.label, path)
            return None
        # "200 result= (timeout)" is silence; a bare "200 result=" is a lone '#' (input).
        if not reply.result and reply.timed_out:
            return None
        return reply.result

    async def set_variable(self, name: str, value: str) -> None:
        await self.send(command_line("SET VARIABLE", quote_arg(name), quote_arg(value)))

    async def get_variable(self, name: str) -> str | None:
        reply = await self.send(command_line("GET VARIABLE", quote_arg(name)), allow_dead=True)
        return reply.data if reply.result == "1" else None

    async def exec_app(self, app: str, args: str = "") -> AgiReply:
        """EXEC an application; the reply is returned as is (Dial reads it itself)."""
        words = ["EXEC", app] + ([quote_arg(args)] if args else [])
        reply = await self.send(command_line(*words))
        if reply.value == -2:
            raise AgiCommandError(" ".join(words), reply)
        return reply

    async def exec_checked(self, app: str, args: str = "") -> None:
        """EXEC an application whose -1 can only mean the caller left (or it failed)."""
        reply = await self.exec_app(app, args)
        if reply.value == -1:
            if await self.caller_gone():
                raise AgiHangup(f"caller gone during EXEC {app}")
            log.error("%s: EXEC %s %s failed", self.label, app, args)

    async def set_music(self, on: bool, music_class: str = "default") -> None:
        line = f"SET MUSIC ON {music_class}" if on else "SET MUSIC OFF"
        await self.send(line)

    async def hangup(self) -> None:
        """HANGUP the caller's channel; the channel is dead afterwards."""
        try:
            await self.send("HANGUP")
        finally:
            self.hung_up.set()
