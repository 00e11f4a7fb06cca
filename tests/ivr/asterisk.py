"""A scripted FastAGI client that plays Asterisk's side of one call, for phase-1 tests.

It connects to the IVR like Asterisk does, sends an environment block taken from a real
capture (tests/fixtures/asterisk/03), and answers every command with the reply line Asterisk
gave to that command in the captures (looked up below, not typed in). What the caller does is
scripted: digits for each GET DATA, what each Dial does, and when the caller hangs up. Every
command the IVR sends is recorded with its time, so tests assert on what a caller would hear.

The PBX simulator (pbxsim) replaces this in phase 2.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from hotline.devtools.captures import AgiLine, load


@cache
def _agi_lines(capture: str, stream: str = "agi-1") -> list[AgiLine]:
    items = load(capture).streams[stream].items
    return [i for i in items if isinstance(i, AgiLine)]


@cache
def captured_reply(capture: str, command: str, stream: str = "agi-1") -> str:
    """The line Asterisk answered to the first command starting with ``command`` (the
    ``HANGUP`` notice skipped)."""
    lines = _agi_lines(capture, stream)
    for i, item in enumerate(lines):
        if item.direction == ">>" and item.text.startswith(command):
            for later in lines[i + 1:]:
                if later.direction == "<<" and later.text != "HANGUP":
                    return later.text
    raise LookupError(f"no reply to {command!r} in capture {capture}")


@cache
def captured_env() -> list[tuple[str, str]]:
    """The environment block of capture 03 (a PJSIP inbound call), in wire order."""
    env = []
    for item in _agi_lines("03"):
        if item.direction != "<<":
            continue
        if item.text == "":
            break
        key, _, value = item.text.partition(": ")
        env.append((key, value))
    return env


# Replies as Asterisk 22 sent them (captures 03, 04, 10, 11, 14).
OK_EXEC = captured_reply("03", "EXEC Ringing")                       # 200 result=0
OK_ANSWER = captured_reply("03", "ANSWER")                           # 200 result=0
OK_STREAM = captured_reply("03", "STREAM FILE hello-world")          # 200 result=0 endpos=11234
OK_SET = captured_reply("03", "SET VARIABLE")                        # 200 result=1
DIAL_NOANSWER = captured_reply("04", "EXEC Dial Local/201")          # 200 result=0
DIAL_ENDED = captured_reply("03", "EXEC Dial")                       # 200 result=-1
GETDATA_DIGITS = captured_reply("10", "GET DATA beep 15000")         # 200 result=12
GETDATA_TIMEOUT = captured_reply("10", "GET DATA beep 3000")         # 200 result= (timeout)
STREAM_MISSING = captured_reply("10", 'STREAM FILE nosuchfile-hotline ""')  # 200 result=-1 endpos=0
INVALID = captured_reply("10", "FOO BAR")                            # 510 Invalid or unknown command
DEAD = captured_reply("11", "WAIT FOR DIGIT 1000")                   # 511 Command Not Permitted ...
OK_HANGUP = captured_reply("03", "HANGUP")                           # 200 result=1
HUNG_UP = captured_reply("11", "WAIT FOR DIGIT 30000")               # 200 result=-1
CHANNEL_UP = captured_reply("10", "CHANNEL STATUS")                  # 200 result=6
USAGE_520 = [i.text for i in _agi_lines("10") if i.direction == "<<" and i.text and (
    i.text.startswith("520") or not re.match(r"^(\d{3} |agi_|HANGUP$)", i.text))]
HANGUP_NOTICE_DELAY = 0.044  # capture 11: the notice follows the -1 result by 44 ms


def digits_reply(digits: str) -> str:
    return GETDATA_DIGITS.replace("12", digits)


@dataclass
class Command:
    t: float  # seconds since the connection opened
    line: str

    @property
    def verb(self) -> str:
        return " ".join(self.line.split()[:2])


Hook = Callable[["ScriptedAsterisk", str], "str | list[str] | None"]


@dataclass
class ScriptedAsterisk:
    """One call. ``digits``: what the caller keys at each GET DATA (None: nothing, timeout);
    ``dials``: what each EXEC Dial does (ANSWER, NOANSWER, BUSY, CHANUNAVAIL); ``hang_up_at``:
    a predicate on a command line, at which the caller hangs up (that command returns -1 and
    the HANGUP notice follows ~44 ms later, as in capture 11)."""

    port: int
    script: str = "inbound"
    callerid: str = "13812345678"
    uniqueid: str = "1795390124.68"
    digits: list[str | None] = field(default_factory=list)
    dials: list[str] = field(default_factory=list)
    hang_up_at: Callable[[str], bool] | None = None
    # Hang up this many seconds after a command matching the predicate got its reply (the
    # caller leaves while nothing runs: during ringing, or on hold waiting for an agent).
    hang_up_after: tuple[Callable[[str], bool], float] | None = None
    # HANGUP notice sent between this command and its reply (capture 14).
    notice_before_reply: Callable[[str], bool] | None = None
    missing_files: set[str] = field(default_factory=set)
    ring_seconds: float = 0.05  # how long an agent phone rings before answering (compressed)
    talk_seconds: float = 0.05
    env_extra: dict[str, str] = field(default_factory=dict)
    hooks: list[Hook] = field(default_factory=list)

    commands: list[Command] = field(default_factory=list)
    replies: list[tuple[float, str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    dead: bool = False
    closed_by_server: bool = False
    notice_at: float | None = None  # when the HANGUP notice went out
    closed_at: float | None = None  # when the server closed the connection
    t0: float = 0.0

    def env_block(self) -> bytes:
        values = dict(captured_env())
        values.update({
            "agi_network_script": self.script,
            "agi_request": f"agi://127.0.0.1:4573/{self.script}",
            "agi_channel": "PJSIP/carrier-0000001c",
            "agi_uniqueid": self.uniqueid,
            "agi_callerid": self.callerid,
            "agi_calleridname": self.callerid,
            "agi_context": "hotline-inbound",
            "agi_extension": "12345",
            "agi_dnid": "12345",
            **self.env_extra,
        })
        return "".join(f"{k}: {v}\n" for k, v in values.items()).encode() + b"\n"

    async def run(self, timeout: float = 15.0) -> ScriptedAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(self.env_block())
        return await self.serve(reader, writer, timeout)

    async def serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float = 15.0
    ) -> ScriptedAsterisk:
        """Play Asterisk on an open stream whose environment block has been written."""
        self.t0 = asyncio.get_running_loop().time()
        self._writer = writer
        self._later: list[asyncio.Task[None]] = []
        await writer.drain()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    raw = await reader.readline()
                    if not raw:
                        self.closed_by_server = True
                        self.closed_at = self._now()
                        break
                    line = raw.decode().rstrip("\n")
                    self.commands.append(Command(self._now(), line))
                    await self._answer(line)
        finally:
            for task in self._later:
                task.cancel()
            writer.close()
        return self

    # -- helpers for tests --------------------------------------------------------------------

    def lines(self) -> list[str]:
        return [c.line for c in self.commands]

    def verbs(self) -> list[str]:
        return [c.verb for c in self.commands]

    def first(self, prefix: str) -> Command:
        for c in self.commands:
            if c.line.startswith(prefix):
                return c
        raise AssertionError(f"no command {prefix!r} in {self.lines()}")

    def index(self, prefix: str, prompt: str | None = None) -> int:
        """Position of the first command starting with ``prefix`` (and playing ``prompt``)."""
        for i, c in enumerate(self.commands):
            if c.line.startswith(prefix) and (prompt is None or f"/{prompt} " in c.line + " "):
                return i
        raise AssertionError(f"no command {prefix!r} {prompt or ''} in {self.lines()}")

    def played(self) -> list[str]:
        """The prompts the caller heard (STREAM FILE and GET DATA), by name, in order."""
        names = []
        for c in self.commands:
            parts = c.line.split()
            if c.line.startswith(("STREAM FILE", "GET DATA")) and len(parts) >= 3:
                names.append(parts[2].rsplit("/", 1)[-1])
        return names

    def reply_time(self, prefix: str) -> float:
        """When Asterisk's reply to the first command ``prefix`` went out."""
        i = self.index(prefix)
        return self.replies[i][0]

    # -- Asterisk's side -----------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time() - self.t0

    async def _send(self, *lines: str) -> None:
        for line in lines:
            self._writer.write(line.encode() + b"\n")
        await self._writer.drain()

    async def _reply(self, line: str) -> None:
        self.replies.append((self._now(), line))
        await self._send(line)

    async def _notice_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.dead = True
        try:
            await self.send_hangup_notice()
        except ConnectionError:
            pass

    async def send_hangup_notice(self) -> None:
        """How Asterisk tells a FastAGI server the caller left (a classic AGI gets SIGHUP)."""
        self.notice_at = self._now()
        await self._send("HANGUP")

    def hang_up(self, delay: float = HANGUP_NOTICE_DELAY, *, now: bool = True) -> None:
        """The caller hangs up (now, or after ``delay`` when ``now`` is False); the HANGUP
        notice goes out after ``delay``."""
        if now:
            self.dead = True
        self._later.append(asyncio.get_running_loop().create_task(self._notice_later(delay)))

    async def _answer(self, line: str) -> None:
        for hook in self.hooks:
            custom = hook(self, line)
            if custom is not None:
                for reply in [custom] if isinstance(custom, str) else custom:
                    await self._reply(reply)
                return
        verb = " ".join(line.split()[:2]).upper()
        if self.dead:
            if verb in ("GET VARIABLE", "VERBOSE") or line.upper().startswith("GET FULL"):
                await self._reply(self._get_variable(line))
            else:
                await self._reply(DEAD)
            return
        if self.hang_up_at is not None and self.hang_up_at(line) and verb != "HANGUP":
            self.hang_up()
            await self._reply(HUNG_UP)
            return
        if self.notice_before_reply is not None and self.notice_before_reply(line):
            self.notice_before_reply = None
            self.dead = True
            await self.send_hangup_notice()
            await asyncio.sleep(0.041)
            await self._reply(self._get_variable(line))
            return
        await self._reply(await self._normal(line, verb))
        if self.hang_up_after is not None and self.hang_up_after[0](line):
            _, delay = self.hang_up_after
            self.hang_up_after = None
            self.hang_up(delay, now=False)

    def _get_variable(self, line: str) -> str:
        parts = line.split()
        if len(parts) >= 3 and parts[0].upper() == "GET":
            name = parts[2]
            if name in self.variables:
                return f"200 result=1 ({self.variables[name]})"
            return "200 result=0"
        return "200 result=1"

    async def _normal(self, line: str, verb: str) -> str:
        parts = line.split()
        if verb == "EXEC RINGING":
            return OK_EXEC
        if verb == "ANSWER":
            return OK_ANSWER
        if verb == "STREAM FILE":
            name = parts[2].rsplit("/", 1)[-1]
            return STREAM_MISSING if name in self.missing_files else OK_STREAM
        if verb == "GET DATA":
            keyed = self.digits.pop(0) if self.digits else None
            return GETDATA_TIMEOUT if keyed is None else digits_reply(keyed)
        if verb == "SET VARIABLE":
            self.variables[parts[2].lstrip("_")] = " ".join(parts[3:]).strip('"')
            return OK_SET
        if verb == "GET VARIABLE":
            return self._get_variable(line)
        if verb == "SET MUSIC":
            return "200 result=0"
        if verb in ("EXEC MIXMONITOR", "EXEC STOPMIXMONITOR"):
            return OK_EXEC
        if verb == "EXEC DIAL":
            outcome = self.dials.pop(0) if self.dials else "NOANSWER"
            self.variables["DIALSTATUS"] = outcome
            await asyncio.sleep(self.ring_seconds)
            if outcome == "ANSWER":
                await asyncio.sleep(self.talk_seconds)
                return DIAL_ENDED
            return DIAL_NOANSWER
        if verb == "HANGUP":
            self.hang_up()
            return OK_HANGUP
        if verb == "CHANNEL STATUS":
            return CHANNEL_UP
        return INVALID


async def send_raw(port: int, data: bytes, *, wait_close: float = 2.0, close_after_send: bool = False) -> bytes:
    """Send raw bytes as Asterisk would and return what the server sent back before closing
    (or until ``wait_close`` seconds passed). ``close_after_send``: close our side at once,
    as Asterisk does when the channel goes away during the environment block."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if close_after_send:
        writer.close()
        return b""
    got = b""
    try:
        async with asyncio.timeout(wait_close):
            while chunk := await reader.read(1024):
                got += chunk
    except TimeoutError:
        pass
    writer.close()
    return got
