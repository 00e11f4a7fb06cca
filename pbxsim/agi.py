"""Asterisk's side of FastAGI: connect to the AGI server, send the environment, answer commands.

Reproduces res_agi as seen in the captures: the environment block ends with an empty line and
uses LF only; every command produces AGIExecStart/AGIExecEnd; replies are ``200 result=...``,
``510`` for unknown commands, ``511`` on a dead channel (GET VARIABLE, VERBOSE and a few others
still work), multi-line ``520`` usage errors. When the channel hangs up the running command
returns ``200 result=-1`` and ``HANGUP`` follows about 40 ms later (at once, if the server sends
a command meanwhile, whose reply then waits out the 40 ms). The socket stays open until the AGI
server closes it; only then does the channel finish (AGISTATUS, Hangup).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pbxsim.channel import SOFTHANGUP_EXPLICIT, Hangup, Interrupted
from pbxsim.dialplan.expr import substitute
from pbxsim.media import RATE, write_wav

if TYPE_CHECKING:
    from pbxsim.channel import Channel

log = logging.getLogger("pbxsim.agi")

CONNECT_TIMEOUT = 2.0  # res_agi's FastAGI connect timeout, real seconds
HANGUP_NOTICE_DELAY = 0.040  # simulated seconds between a hangup and the HANGUP line

SUCCESS, FAILURE, USAGE = 0, 1, 2  # handler results (RESULT_* in res_agi)

STREAM_FILE_USAGE = [
    "Send the given file, allowing playback to be interrupted by the given digits, if any. "
    "Returns <literal>0</literal> if playback completes without a digit being pressed, or the "
    "ASCII numerical value of the digit if one was pressed, or <literal>-1</literal> on error or "
    "if the channel was disconnected. If musiconhold is playing before calling stream file it "
    "will be automatically stopped and will not be restarted after completion.",
    "It sets the following channel variables upon completion:",
    "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text string.",
    "    <value>SUCCESS</value>",
    "    <value>FAILED</value>",
]


def parse_agi_args(line: str) -> list[str]:
    """res_agi's parse_args: blanks separate words, double quotes group, backslash escapes."""
    args: list[str] = []
    cur: list[str] = []
    quoted = False
    have = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            have = True
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
            have = True
        elif ch in " \t" and not quoted:
            if have:
                args.append("".join(cur))
                cur, have = [], False
        else:
            cur.append(ch)
            have = True
        i += 1
    if have:
        args.append("".join(cur))
    return args


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    handler: str
    dead_ok: bool
    usage: tuple[str, ...]


def _cmd(words: str, handler: str, dead_ok: bool, usage: str | list[str]) -> Command:
    lines = usage if isinstance(usage, list) else [usage]
    return Command(tuple(words.split()), handler, dead_ok, tuple(lines))


COMMANDS = [
    _cmd("ANSWER", "answer", False, "Answers channel if not already in answer state."),
    _cmd("CHANNEL STATUS", "channel_status", False, "Returns status of the connected channel."),
    _cmd("CONTROL STREAM FILE", "stream_file", False, "Sends audio file on channel and allows the listener to control the stream."),
    _cmd("DATABASE DEL", "db_del", True, "Removes database key/value"),
    _cmd("DATABASE GET", "db_get", True, "Gets database value"),
    _cmd("DATABASE PUT", "db_put", True, "Adds/updates database value"),
    _cmd("EXEC", "exec", True, "Executes a given Application"),
    _cmd("GET DATA", "get_data", False, "Prompts for DTMF on a channel"),
    _cmd("GET FULL VARIABLE", "get_full_variable", True, "Evaluates a channel expression"),
    _cmd("GET OPTION", "get_option", False, "Stream file, prompt for DTMF, with timeout."),
    _cmd("GET VARIABLE", "get_variable", True, "Gets a channel variable."),
    _cmd("HANGUP", "hangup", False, "Hangup a channel."),
    _cmd("NOOP", "noop", True, "Does nothing."),
    _cmd("RECORD FILE", "record_file", False, "Records to a given file."),
    _cmd("SAY ALPHA", "say", False, "Says a given character string."),
    _cmd("SAY DIGITS", "say", False, "Says a given digit string."),
    _cmd("SAY NUMBER", "say", False, "Says a given number."),
    _cmd("SET AUTOHANGUP", "noop0", False, "Autohangup channel in some time."),
    _cmd("SET CALLERID", "set_callerid", True, "Sets callerid for the current channel."),
    _cmd("SET CONTEXT", "set_context", True, "Sets channel context."),
    _cmd("SET EXTENSION", "set_extension", True, "Changes channel extension."),
    _cmd("SET MUSIC", "set_music", False, "Enable/Disable Music on hold generator"),
    _cmd("SET PRIORITY", "set_priority", True, "Set channel dialplan priority."),
    _cmd("SET VARIABLE", "set_variable", True, "Sets a channel variable."),
    _cmd("STREAM FILE", "stream_file", False, STREAM_FILE_USAGE),
    _cmd("VERBOSE", "verbose", True, "Logs a message to the asterisk verbose log."),
    _cmd("WAIT FOR DIGIT", "wait_for_digit", False, "Waits for a digit to be pressed."),
]


def find_command(args: list[str]) -> tuple[Command | None, int]:
    best: tuple[Command | None, int] = (None, 0)
    upper = [a.upper() for a in args]
    for cmd in COMMANDS:
        n = len(cmd.words)
        if tuple(upper[:n]) == cmd.words and n > best[1]:
            best = (cmd, n)
    return best


class AgiSession:
    """One AGI() application run on one channel."""

    def __init__(self, chan: Channel, url: str, args: list[str]) -> None:
        self.chan = chan
        self.url = url
        self.args = args
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.failed = False
        self.notice_sent = False
        self.notice_due: float | None = None
        self._notice_handle: asyncio.TimerHandle | None = None
        self._watch: asyncio.Task[None] | None = None
        self.rng = random.Random(f"{chan.uniqueid}-agi")

    # ---- connection ------------------------------------------------------------------
    async def _connect(self) -> str | None:
        """Open the connection; None when open, else the AGISTATUS the application ends with."""
        chan = self.chan
        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 4573
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            warned = chan.pbx.sim.warned
            if self.url not in warned:
                warned.add(self.url)
                log.warning("AGI connect to %s failed (%s); AGISTATUS=FAILURE, the dialplan goes on", self.url, exc)
            return "FAILURE"
        return None

    async def _finished(self) -> bool:
        """After the loop: False when the AGI failed on its own (a script's exit status)."""
        return True

    async def run(self) -> int:
        """Run the AGI; returns the application result (-1 when the channel hung up)."""
        chan = self.chan
        refused = await self._connect()
        if refused is not None:
            chan.set_var("AGISTATUS", refused)
            if chan.call is not None:
                chan.call.on_agi(self.url, refused)
            return 0
        chan.agi = self
        self._watch = chan.pbx.loop.create_task(self._watch_hangup())
        try:
            self._send_env()
            await self._loop()
            ok = await self._finished()
        finally:
            if self._watch is not None:
                self._watch.cancel()
            if self._notice_handle is not None:
                self._notice_handle.cancel()
            chan.agi = None
            self._close()
        if self.failed:
            status = "FAILURE"
        elif chan.hungup:
            status = "HANGUP"
        else:
            status = "SUCCESS" if ok else "FAILURE"
        if not chan.destroyed:
            chan.set_var("AGISTATUS", status)
        if chan.call is not None:
            chan.call.on_agi(self.url, status)
        return -1 if status == "HANGUP" or chan.hungup else 0

    def _close(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()

    def abort(self) -> None:
        """PBX restart: the socket just goes away."""
        if self.writer is not None:
            transport = self.writer.transport
            transport.abort()

    def _env_head(self) -> list[tuple[str, str]]:
        """The lines before ``agi_request`` (FastAGI: the network ones)."""
        path = self.url.split("://", 1)[-1]
        script = path.split("/", 1)[1] if "/" in path else ""
        env: list[tuple[str, str]] = [("agi_network", "yes")]
        if script:
            env.append(("agi_network_script", script))
        return env

    def _send_env(self) -> None:
        chan = self.chan
        env = self._env_head()
        env += [
            ("agi_request", self.url),
            ("agi_channel", chan.name),
            ("agi_language", chan.language),
            ("agi_type", chan.tech),
            ("agi_uniqueid", chan.uniqueid),
            ("agi_version", chan.pbx.config.asterisk_version),
            ("agi_callerid", chan.caller.num or "unknown"),
            ("agi_calleridname", chan.caller.name or "unknown"),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", chan.dnid or "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", chan.context),
            ("agi_extension", chan.exten),
            ("agi_priority", str(chan.priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", chan.accountcode),
            ("agi_threadid", str(140331800000000 + self.rng.randrange(10**7))),
        ]
        env += [(f"agi_arg_{i}", a) for i, a in enumerate(self.args, start=1)]
        self._write("".join(f"{k}: {v}\n" for k, v in env) + "\n")

    def _write(self, text: str) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(text.encode("utf-8", "surrogateescape"))

    # ---- the HANGUP notice --------------------------------------------------------------
    async def _watch_hangup(self) -> None:
        chan = self.chan
        while True:
            await chan.wake.wait()
            if chan.hungup or chan.async_goto:
                break
            chan.wake.clear()  # stale: nothing to report
        if self.notice_sent or self.notice_due is not None:
            return
        loop = chan.pbx.loop
        delay = chan.pbx.clock.real(HANGUP_NOTICE_DELAY)
        self.notice_due = loop.time() + delay
        self._notice_handle = loop.call_at(self.notice_due, self._send_notice)

    def _send_notice(self) -> None:
        if self.notice_sent:
            return
        self.notice_sent = True
        if self._notice_handle is not None:
            self._notice_handle.cancel()
        if self.chan.vars.get("AGISIGHUP", "yes").lower() != "no":
            self._notify_hangup()

    def _notify_hangup(self) -> None:
        self._write("HANGUP\n")

    @property
    def dead(self) -> bool:
        """Hung up, or redirected elsewhere (an async goto ends the AGI as a hangup does)."""
        return self.chan.hungup or self.chan.async_goto

    # ---- command loop -------------------------------------------------------------------
    async def _loop(self) -> None:
        assert self.reader is not None
        while True:
            try:
                raw = await self.reader.readline()
            except (ConnectionError, OSError):
                return
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.strip():
                continue
            if self.notice_due is not None and not self.notice_sent:
                # A command arrived while the HANGUP notice was pending: the notice goes out
                # first and the command waits out the rest of the delay (capture 14).
                remaining = self.notice_due - self.chan.pbx.loop.time()
                self._send_notice()
                if remaining > 0:
                    await asyncio.sleep(remaining)
            await self._handle(line)

    async def _handle(self, line: str) -> None:
        chan = self.chan
        args = parse_agi_args(line)
        command_id = str(self.rng.randrange(1, 2**31))
        if not chan.destroyed:
            chan.event("AGIExecStart", "agi", [("CommandId", command_id), ("Command", line)])
        cmd, nwords = find_command(args)
        if cmd is None:
            self._write("510 Invalid or unknown command\n")
            self._exec_end(command_id, line, 510, "Invalid or unknown command")
            return
        if self.dead and not cmd.dead_ok:
            text = "Command Not Permitted on a dead channel or intercept routine"
            self._write(f"511 {text}\n")
            self._exec_end(command_id, line, 511, text)
            return
        handler: Callable[[list[str]], Awaitable[int]] = getattr(self, "cmd_" + cmd.handler)
        try:
            result = await handler(args)
        except (Hangup, Interrupted):
            self._write("200 result=-1\n")
            result = FAILURE
        if result == USAGE:
            self._write("520-Invalid command syntax.  Proper usage follows:\n")
            self._write("".join(u + "\n" for u in cmd.usage))
            self._write("520 End of proper usage.\n")
            self._exec_end(command_id, line, 520, "Usage")
            return
        if result == FAILURE:
            if not self.dead:
                self.failed = True
            self._exec_end(command_id, line, -1, "Failure")
        elif result == SUCCESS:
            self._exec_end(command_id, line, 200, "Success")
        else:
            self._exec_end(command_id, line, 200, "Unknown Result")

    def _exec_end(self, command_id: str, line: str, code: int, text: str) -> None:
        if not self.chan.destroyed:
            self.chan.event("AGIExecEnd", "agi", [("CommandId", command_id), ("Command", line),
                                                  ("ResultCode", str(code)), ("Result", text)])

    # ---- helpers ----------------------------------------------------------------------------
    def _reply(self, text: str) -> None:
        self._write(text + "\n")

    async def _play(self, name: str, escape: str = "") -> tuple[int, int, bool]:
        """Play a file; returns (result, endpos samples, found). Result is the ASCII code of an
        escape digit, 0 when the file played through, -1 when the channel hung up."""
        chan = self.chan
        seconds = chan.pbx.sounds.duration(name, chan.language)
        if seconds is None:
            return -1, 0, False
        if chan.call is not None:
            chan.call.on_prompt(name)
        start = chan.pbx.clock.now()
        if escape and chan.party is not None:
            chan.party.prompt_started(chan, escape, seconds)
        try:
            if escape:
                loop = chan.pbx.loop
                deadline = loop.time() + chan.pbx.clock.real(seconds)
                while True:
                    remaining_real = deadline - loop.time()
                    if remaining_real <= 0:
                        break
                    digit = await chan.get_digit(remaining_real * chan.pbx.clock.speed)
                    if digit is None:
                        break
                    if digit in escape:
                        pos = int((chan.pbx.clock.now() - start) * RATE)
                        return ord(digit), pos, True
            else:
                await chan.sleep(seconds)
        except (Hangup, Interrupted):
            pos = int((chan.pbx.clock.now() - start) * RATE)
            return -1, pos, True
        return 0, int(round(seconds * RATE)), True

    # ---- commands -------------------------------------------------------------------------
    async def cmd_answer(self, args: list[str]) -> int:
        from pbxsim.apps import answer_channel

        await answer_channel(self.chan)
        self._reply("200 result=0")
        return SUCCESS

    async def cmd_channel_status(self, args: list[str]) -> int:
        if len(args) > 3:
            return USAGE
        chan = self.chan
        if len(args) == 3:
            other = chan.pbx.find_channel(args[2])
            if other is None:
                self._reply("200 result=-1")
                return SUCCESS
            chan = other
        self._reply(f"200 result={chan.state}")
        return SUCCESS

    async def cmd_db_get(self, args: list[str]) -> int:
        if len(args) != 4:
            return USAGE
        value = self.chan.pbx.sim.astdb.get((args[2], args[3]))
        self._reply("200 result=0" if value is None else f"200 result=1 ({value})")
        return SUCCESS

    async def cmd_db_put(self, args: list[str]) -> int:
        if len(args) != 5:
            return USAGE
        self.chan.pbx.sim.astdb[(args[2], args[3])] = args[4]
        self._reply("200 result=1")
        return SUCCESS

    async def cmd_db_del(self, args: list[str]) -> int:
        if len(args) != 4:
            return USAGE
        found = self.chan.pbx.sim.astdb.pop((args[2], args[3]), None) is not None
        self._reply(f"200 result={1 if found else 0}")
        return SUCCESS

    async def cmd_exec(self, args: list[str]) -> int:
        from pbxsim.apps import find_app

        if len(args) < 2:
            return USAGE
        chan = self.chan
        app = find_app(args[1])
        data = args[2] if len(args) >= 3 else ""
        if app is None:
            self._reply("200 result=-2")
            return -2
        name, func = app
        data = _client_durations(name, data, chan.pbx.clock.from_client)
        prev = (chan.app, chan.appdata)
        chan.cdr.app(name, data)
        chan.app, chan.appdata = name, data
        try:
            res = await func(chan, data)
        except (Hangup, Interrupted):
            res = -1
        finally:
            if not chan.destroyed:
                chan.app, chan.appdata = prev
                chan.cdr.app(*prev)
        self._reply(f"200 result={res}")
        return SUCCESS if res == 0 else res

    async def cmd_get_data(self, args: list[str]) -> int:
        if len(args) < 3 or len(args) > 5:
            return USAGE
        chan = self.chan
        timeout_ms = int(args[3]) if len(args) >= 4 and args[3].lstrip("-").isdigit() else 0
        maxdigits = int(args[4]) if len(args) >= 5 and args[4].isdigit() else 1024
        timeout = chan.pbx.clock.from_client((timeout_ms if timeout_ms > 0 else 6000) / 1000.0)
        res, _, _ = await self._play(args[2], "0123456789*#")
        if res == -1 and chan.hungup:
            self._reply("200 result=-1")
            return SUCCESS
        digits = chr(res) if res > 0 else ""
        if digits == "#":
            self._reply("200 result=")
            return SUCCESS
        if chan.party is not None:
            chan.party.input_requested(chan, "get_data", already=digits)
        try:
            while len(digits) < maxdigits:
                digit = await chan.get_digit(timeout)
                if digit is None:
                    self._reply(f"200 result={digits} (timeout)")
                    return SUCCESS
                if digit == "#":
                    break
                digits += digit
        except (Hangup, Interrupted):
            self._reply("200 result=-1")
            return SUCCESS
        if chan.call is not None:
            chan.call.on_input(digits)
        self._reply(f"200 result={digits}")
        return SUCCESS

    async def cmd_get_full_variable(self, args: list[str]) -> int:
        if len(args) < 4 or len(args) > 5:
            return USAGE
        chan = self.chan
        if len(args) >= 5:
            other = chan.pbx.find_channel(args[4])
            if other is None:
                self._reply("200 result=0")
                return SUCCESS
            chan = other
        value = substitute(args[3], chan)
        self._reply(f"200 result=1 ({value})")
        return SUCCESS

    async def cmd_get_option(self, args: list[str]) -> int:
        if len(args) < 4 or len(args) > 5:
            return USAGE
        chan = self.chan
        escape = args[3]
        timeout = chan.pbx.clock.from_client(
            int(args[4]) / 1000.0 if len(args) == 5 and args[4].lstrip("-").isdigit() else 5.0
        )
        res, endpos, found = await self._play(args[2], escape)
        if not found:
            self._reply("200 result=-1 endpos=0")
            return FAILURE
        if res != 0:
            self._reply(f"200 result={res} endpos={endpos}")
            return SUCCESS if res > 0 else FAILURE
        if chan.party is not None:
            chan.party.input_requested(chan, "get_option")
        digit = await chan.get_digit(timeout if timeout > 0 else None)
        if digit is not None and digit in escape:
            if chan.call is not None:
                chan.call.on_input(digit)
            self._reply(f"200 result={ord(digit)} endpos={endpos}")
        else:
            self._reply(f"200 result=0 endpos={endpos}")
        return SUCCESS

    async def cmd_get_variable(self, args: list[str]) -> int:
        if len(args) != 3:
            return USAGE
        name = args[2]
        chan = self.chan
        if "(" in name and name.endswith(")"):
            value: str | None = substitute("${" + name + "}", chan)
        else:
            value = chan.get_var(name)
            if value is None:
                value = chan.pbx.globals.get(name)
                if value is None and name in ("EXTEN", "CONTEXT", "PRIORITY", "UNIQUEID", "CHANNEL", "LINKEDID"):
                    value = substitute("${" + name + "}", chan)
        if value is None or (value == "" and "(" in name):
            self._reply("200 result=0")
        else:
            self._reply(f"200 result=1 ({value})")
        return SUCCESS

    async def cmd_hangup(self, args: list[str]) -> int:
        if len(args) > 2:
            return USAGE
        chan = self.chan
        if len(args) == 2:
            other = chan.pbx.find_channel(args[1])
            if other is None:
                self._reply("200 result=-1")
                return SUCCESS
            chan = other
        if chan.call is not None and chan is self.chan:
            chan.call.ended_by_hint(chan, "ivr")
        chan.softhangup(SOFTHANGUP_EXPLICIT)
        self._reply("200 result=1")
        return SUCCESS

    async def cmd_noop(self, args: list[str]) -> int:
        self._reply("200 result=0")
        return SUCCESS

    async def cmd_noop0(self, args: list[str]) -> int:
        self._reply("200 result=0")
        return SUCCESS

    async def cmd_record_file(self, args: list[str]) -> int:
        if len(args) < 6:
            return USAGE
        chan = self.chan
        filename, fmt, escape, timeout_text = args[2], args[3], args[4], args[5]
        try:
            timeout_ms = int(timeout_text)
        except ValueError:
            return USAGE
        beep = False
        silence: float | None = None
        for extra in args[6:]:
            if extra.upper() == "BEEP":
                beep = True
            elif extra.lower().startswith("s="):
                try:
                    silence = float(extra[2:])
                except ValueError:
                    pass
        if beep:
            res, _, _ = await self._play("beep")
            if res == -1 and chan.hungup:
                self._reply("200 result=-1 (hangup) endpos=0")
                return FAILURE
        limit = None if timeout_ms < 0 else chan.pbx.clock.from_client(timeout_ms / 1000.0)
        party = chan.party
        speech = party.speech_seconds(limit) if party is not None else None
        media = chan.sends_media
        if media and silence is not None and speech is not None:
            stop_after = speech + silence
            if limit is None or stop_after < limit:
                limit = stop_after
        start = chan.pbx.clock.now()
        outcome = "timeout"
        result = 0
        try:
            if party is not None:
                party.input_requested(chan, "record")
            loop = chan.pbx.loop
            deadline = None if limit is None else loop.time() + chan.pbx.clock.real(limit)
            while True:
                remaining = None if deadline is None else (deadline - loop.time()) * chan.pbx.clock.speed
                if remaining is not None and remaining <= 0:
                    break
                digit = await chan.get_digit(remaining)
                if digit is None:
                    break
                if digit in escape:
                    outcome, result = "dtmf", ord(digit)
                    break
        except (Hangup, Interrupted):
            outcome, result = "hangup", -1
        elapsed = chan.pbx.clock.now() - start
        if outcome == "timeout" and limit is not None:
            elapsed = limit  # ended by the timer: exactly the time asked for
        heard = 0.0
        if media:
            heard = elapsed if speech is None else min(elapsed, speech)
        segs = [(heard, True)] if heard > 0 else []
        path = Path(f"{filename}.{fmt}")
        if not path.is_absolute():
            path = chan.pbx.config.record_dir / path
        samples = await asyncio.to_thread(write_wav, path, segs)
        if chan.call is not None:
            chan.call.on_recording(str(path), heard)
        if outcome == "hangup":
            self._reply(f"200 result=-1 (hangup) endpos={samples}")
            return FAILURE
        if outcome == "dtmf":
            self._reply(f"200 result={result} (dtmf) endpos={samples}")
            return SUCCESS
        self._reply(f"200 result=0 (timeout) endpos={samples}")
        return SUCCESS

    async def cmd_say(self, args: list[str]) -> int:
        if len(args) < 4:
            return USAGE
        chan = self.chan
        try:
            await chan.sleep(0.6 * len(args[2]))
        except (Hangup, Interrupted):
            self._reply("200 result=-1")
            return FAILURE
        self._reply("200 result=0")
        return SUCCESS

    async def cmd_set_callerid(self, args: list[str]) -> int:
        if len(args) != 3:
            return USAGE
        self.chan.caller.num = args[2]
        self._reply("200 result=1")
        return SUCCESS

    async def cmd_set_context(self, args: list[str]) -> int:
        if len(args) != 3:
            return USAGE
        self.chan.context = args[2]
        self._reply("200 result=0")
        return SUCCESS

    async def cmd_set_extension(self, args: list[str]) -> int:
        if len(args) != 3:
            return USAGE
        self.chan.exten = args[2]
        self._reply("200 result=0")
        return SUCCESS

    async def cmd_set_priority(self, args: list[str]) -> int:
        if len(args) != 3:
            return USAGE
        if args[2].isdigit():
            self.chan.priority = int(args[2])
        self._reply("200 result=0")
        return SUCCESS

    async def cmd_set_music(self, args: list[str]) -> int:
        if len(args) < 3:
            return USAGE
        chan = self.chan
        if args[2].lower() == "on":
            chan.event("MusicOnHoldStart", "call", [("Class", args[3] if len(args) > 3 else "default")])
        else:
            chan.event("MusicOnHoldStop", "call")
        self._reply("200 result=0")
        return SUCCESS

    async def cmd_set_variable(self, args: list[str]) -> int:
        if len(args) != 4:
            return USAGE
        self.chan.set_var(args[2], args[3])
        self._reply("200 result=1")
        return SUCCESS

    async def cmd_stream_file(self, args: list[str]) -> int:
        if len(args) < 4 or len(args) > 5:
            return USAGE
        chan = self.chan
        res, endpos, found = await self._play(args[2], args[3])
        if not found:
            self._reply("200 result=-1 endpos=0")
            return FAILURE
        if res == -1:
            self._reply(f"200 result=-1 endpos={endpos}")
            return FAILURE
        if not chan.destroyed:
            chan.set_var("PLAYBACKSTATUS", "SUCCESS")
        if res > 0 and chan.call is not None:
            chan.call.on_input(chr(res))
        self._reply(f"200 result={res} endpos={endpos}")
        return SUCCESS

    async def cmd_verbose(self, args: list[str]) -> int:
        if len(args) < 2 or len(args) > 3:
            return USAGE
        self._reply("200 result=1")
        return SUCCESS

    async def cmd_wait_for_digit(self, args: list[str]) -> int:
        if len(args) != 4:
            return USAGE
        chan = self.chan
        try:
            timeout_ms = int(args[3])
        except ValueError:
            return USAGE
        if chan.party is not None:
            chan.party.input_requested(chan, "wait_for_digit")
        try:
            digit = await chan.get_digit(
                None if timeout_ms < 0 else chan.pbx.clock.from_client(timeout_ms / 1000.0)
            )
        except (Hangup, Interrupted):
            self._reply("200 result=-1")
            return FAILURE
        if digit is None:
            self._reply("200 result=0")
        else:
            if chan.call is not None:
                chan.call.on_input(digit)
            self._reply(f"200 result={ord(digit)}")
        return SUCCESS


class ProcessAgiSession(AgiSession):
    """A classic AGI: the script runs as a process per call, AGI spoken on its stdin/stdout.

    As res_agi's launch_script and run_agi do: a relative script name is looked up in the
    AGI directory (``SimConfig.agi_dir``, Asterisk's astagidir); a missing file ends the
    application with AGISTATUS=NOTFOUND. The process gets the PBX's environment plus
    ``AST_AGI_DIR`` and ``AST_MONITOR_DIR`` (of res_agi's ``AST_*`` directories, the ones the
    simulator has) and the script followed by the AGI() arguments as its argv. The
    environment block has no network lines and starts with ``agi_request`` (the script as
    written in the dialplan). A hang-up is told by SIGHUP (unless AGISIGHUP=no), never by a
    ``HANGUP`` line; the channel then runs dead until the script closes its stdout, and the
    PBX waits for the process: a non-zero exit status makes AGISTATUS=FAILURE.
    """

    def __init__(self, chan: Channel, script: str, args: list[str]) -> None:
        super().__init__(chan, script, args)
        self.process: asyncio.subprocess.Process | None = None

    def _path(self) -> Path:
        path = Path(self.url)
        return path if path.is_absolute() else self.chan.pbx.config.agi_dir / path

    async def _connect(self) -> str | None:
        path = self._path()
        if not path.exists():
            log.warning("Failed to execute '%s': File does not exist.", path)
            return "NOTFOUND"
        config = self.chan.pbx.config
        env = {**os.environ, "AST_AGI_DIR": str(config.agi_dir), "AST_MONITOR_DIR": str(config.record_dir)}
        try:
            self.process = await asyncio.create_subprocess_exec(
                str(path), *self.args, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
            )
        except OSError as exc:
            # Asterisk's child writes "failure" when execv fails; the AGI ends as FAILURE.
            log.warning("Failed to execute '%s': %s", path, exc.strerror or exc)
            return "FAILURE"
        self.reader, self.writer = self.process.stdout, self.process.stdin
        return None

    def _env_head(self) -> list[tuple[str, str]]:
        return []

    def _notify_hangup(self) -> None:
        if self.process is not None and self.process.returncode is None:
            try:
                self.process.send_signal(signal.SIGHUP)
            except ProcessLookupError:
                pass

    async def _finished(self) -> bool:
        assert self.process is not None
        return await self.process.wait() == 0

    def _close(self) -> None:
        super()._close()
        if self.process is not None and self.process.returncode is None:
            # Asterisk's last word to a script still running when the AGI ends.
            self._notify_hangup()

    def abort(self) -> None:
        """PBX restart: the script's pipes and the script go away."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()


async def run_agi(chan: Channel, data: str) -> int:
    """The AGI() application: ``agi://host[:port]/script[?query][,arg1,arg2...]`` (FastAGI)
    or ``script[,arg1,arg2...]`` (a classic AGI process, see :class:`ProcessAgiSession`)."""
    from pbxsim.dialplan.expr import split_args

    parts = split_args(data)
    if not parts or not parts[0]:
        return -1
    url = parts[0].strip()
    lowered = url.lower()
    if lowered.startswith("agi://"):
        session: AgiSession = AgiSession(chan, url, parts[1:])
    elif lowered.startswith(("hagi://", "agi:async")):
        log.warning("%r: only FastAGI (agi://) and AGI processes are simulated", url)
        chan.set_var("AGISTATUS", "FAILURE")
        return 0
    else:
        session = ProcessAgiSession(chan, url, parts[1:])
    return await session.run()


# Applications run by EXEC whose arguments carry durations in seconds: (argument index).
_DURATION_ARGS = {"Dial": 1, "Wait": 0, "MusicOnHold": 1}


def _client_durations(app: str, data: str, convert: Callable[[float], float]) -> str:
    """EXEC arguments with their durations in simulated seconds (see SimClock.from_client)."""
    index = _DURATION_ARGS.get(app)
    if index is None or not data:
        return data
    from pbxsim.dialplan.expr import split_args

    args = split_args(data)
    if index >= len(args):
        return data
    try:
        seconds = float(args[index])
    except ValueError:
        return data
    converted = convert(seconds)
    if converted == seconds:
        return data
    args[index] = f"{converted:g}"
    return ",".join(args)

