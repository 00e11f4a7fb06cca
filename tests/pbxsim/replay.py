"""Replay a captured Asterisk 22 scenario on the simulator and compare what both sent.

The capture (``tests/fixtures/asterisk/NN-*.txt``) gives, per stream, what the capture tool sent
(``>>``) and what Asterisk answered (``<<``). The replay

* opens the same AMI sessions and sends the same actions, each when the message that preceded it
  in the capture has arrived (plus the same, speed-scaled, pause); channel names inside actions
  are translated to the simulator's channels (n-th channel of the capture = n-th of the replay);
* performs the capture tool's other steps (place a sipp call, register a phone, CLI commands)
  the same way, from a per-capture list;
* runs a FastAGI server that sends the commands the capture's AGI server sent, with its pauses;

and then compares the two transcripts (see :func:`compare_ami` for the rules).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.devtools.captures import AgiLine, AmiMessage, Capture, Stream

# ---- what is compared, and what is not ------------------------------------------------------

#: Events the simulator deliberately does not produce, with the reason.
EXCLUDED_EVENTS = {
    "RTCPSent": "RTCP reports of real RTP streams; the simulator carries no media",
    "QueueMemberStatus": "app_queue member state (the capture's Local/20x agents were also queue "
    "members); the simulator does not model app_queue",
}
#: VarSet variables the simulator does not set, with the reason.
EXCLUDED_VARIABLES = {
    "RTPAUDIOQOS": "RTP quality statistics published at hangup; no RTP in the simulator",
    "RTPAUDIOQOSJITTER": "as RTPAUDIOQOS",
    "RTPAUDIOQOSLOSS": "as RTPAUDIOQOS",
    "RTPAUDIOQOSRTT": "as RTPAUDIOQOS",
    "RTPAUDIOQOSMES": "as RTPAUDIOQOS",
    "RTPAUDIOQOSBRIDGED": "as RTPAUDIOQOS",
    "RTPAUDIOQOSJITTERBRIDGED": "as RTPAUDIOQOS",
    "RTPAUDIOQOSLOSSBRIDGED": "as RTPAUDIOQOS",
    "RTPAUDIOQOSRTTBRIDGED": "as RTPAUDIOQOS",
    "RTPAUDIOQOSMESBRIDGED": "as RTPAUDIOQOS",
}
#: Set again to the value they already have whenever Asterisk re-picks a bridge's technology
#: (simple_bridge -> native_rtp, an audiohook attaching for MixMonitor). The simulator has no
#: media path and sets them once per bridge entry; unchanged re-sets are dropped on both sides.
RESET_VARIABLES = ("BRIDGEPEER", "BRIDGEPVTCALLID")

#: Values that naturally differ between runs: compared by shape, not value.
SHAPE_KEYS = {
    "CommandId": r"\d+", "EventTV": r"\d{4}-\d\d-\d\dT[\d:.]+\+0000", "SessionTV": r"\d{4}-\d\d-\d\dT[\d:.]+\+0000",
    "SessionID": r"0x[0-9a-f]+", "LocalAddress": r"IPV4/TCP/[\d.]+/\d+", "RemoteAddress": r"IPV4/TCP/[\d.]+/\d+",
    "Uptime": r"\d+", "LastReload": r"\d+", "Timestamp": r"\d+\.\d{6}", "StartTime": r"(\d{4}-\d\d-\d\d [\d:]{8})?",
    "AnswerTime": r"(\d{4}-\d\d-\d\d [\d:]{8})?", "EndTime": r"(\d{4}-\d\d-\d\d [\d:]{8})?", "Duration": r"[\d:]+",
    "BillableSeconds": r"\d+", "Seconds": r"\d+", "DurationMs": r"\d+", "RoundtripUsec": r"(\d+|N/A)",
    "ExpirationTime": r"\d+", "CallId": r".+", "ViaPort": r"\d+", "ObjectName": r".+;@[0-9a-f]+",
    "URI": r"sip:.+", "Uri": r"sip:.+", "UserAgent": r".*", "Challenge": r"\d+", "ListItems": r"\d+",
    "Items": r"\d+", "BridgeTechnology": r"simple_bridge|native_rtp", "Output": r".*",
}
SHAPE_VARIABLES = {"RINGTIME", "RINGTIME_MS", "ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME",
                   "DIALEDTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS", "BRIDGEPVTCALLID", "SIPDOMAIN"}
#: Where a capture-tool path appears, the replay used a temporary directory instead.
CAPTURE_SPOOL = "/var/spool/asterisk/monitor"

_CHAN = re.compile(r"(?:PJSIP|Local)/[^\s,;()<>\"]+?-[0-9a-f]{8}(?:;[12])?")
_UID = re.compile(r"(?<![\d.])\d{10}\.\d+(?![\d.])")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Canon:
    """Replaces run-specific identifiers with stable tokens, numbered by first appearance."""

    def __init__(self, spool: str | None = None, replace: dict[str, str] | None = None) -> None:
        self.maps: dict[str, dict[str, str]] = {"CHAN": {}, "UID": {}, "UUID": {}}
        self.spool = spool
        self.replace = replace or {}

    def token(self, kind: str, value: str) -> str:
        table = self.maps[kind]
        if value not in table:
            table[value] = f"<{kind}{len(table) + 1}>"
        return table[value]

    def text(self, value: str) -> str:
        if self.spool:
            value = value.replace(self.spool, CAPTURE_SPOOL)
        for ours, theirs in self.replace.items():
            value = value.replace(ours, theirs)
        value = _CHAN.sub(lambda m: self.token("CHAN", m[0]), value)
        value = _UUID.sub(lambda m: self.token("UUID", m[0]), value)
        return _UID.sub(lambda m: self.token("UID", m[0]), value)

    def reverse(self, kind: str) -> dict[str, str]:
        return {tok: real for real, tok in self.maps[kind].items()}


def excluded(msg: AmiMessage) -> bool:
    if msg.kind != "Event":
        return False
    if msg.name in EXCLUDED_EVENTS:
        return True
    return msg.name == "VarSet" and (msg.get("Variable") or "") in EXCLUDED_VARIABLES


def drop_unchanged_resets(msgs: list[AmiMessage]) -> list[AmiMessage]:
    last: dict[tuple[str, str], str] = {}
    out = []
    for m in msgs:
        if m.kind == "Event" and m.name == "VarSet" and m.get("Variable") in RESET_VARIABLES:
            key = (m.get("Channel") or "", m.get("Variable") or "")
            value = m.get("Value") or ""
            if last.get(key) == value:
                continue
            last[key] = value
        out.append(m)
    return out


def kept(stream_msgs: list[AmiMessage]) -> list[AmiMessage]:
    """The messages Asterisk sent that the comparison looks at."""
    return drop_unchanged_resets([m for m in stream_msgs if m.direction == "<<" and not excluded(m)])


def normalise(msg: AmiMessage, canon: Canon) -> tuple[str, ...]:
    """One message as comparable text: keys in order, values canonical or by shape."""
    out = [f"{msg.kind}:{msg.name}" if msg.banner is None else f"Banner:{msg.banner}"]
    variable = msg.get("Variable") if msg.name == "VarSet" else None
    for key, value in msg.headers[1:]:
        if key in SHAPE_KEYS:
            pattern = SHAPE_KEYS[key]
            shaped = "ok" if re.fullmatch(pattern, value) else f"BAD-SHAPE({value})"
            out.append(f"{key}: <{shaped}>")
        elif key == "Value" and variable in SHAPE_VARIABLES and value:
            out.append(f"{key}: <set>")
        else:
            out.append(f"{canon.text(key) if '(' in key else key}: {canon.text(value)}")
    return tuple(out)


def signature(msg: AmiMessage, canon: Canon) -> tuple[str, ...]:
    """What identifies a message for triggering: kind, name, its channel, variable/command."""
    chan = _channel_of(msg) or ""
    detail = msg.get("Variable") or msg.get("Command") or msg.get("Message") or ""
    return (msg.kind, msg.name, canon.text(chan), canon.text(detail))


def _channel_of(msg: AmiMessage) -> str | None:
    for prefix in ("", "Dest", "LocalOne"):
        if msg.get(prefix + "ChannelState") is not None:
            return msg.get(prefix + "Channel")
    return None


@dataclass
class Split:
    session: list[tuple[str, ...]] = field(default_factory=list)
    channels: dict[str, list[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(list))
    bridges: dict[str, list[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(list))
    devices: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    cdrs: Counter[tuple[str, ...]] = field(default_factory=Counter)
    channel_order: list[str] = field(default_factory=list)


def split(msgs: list[AmiMessage], canon: Canon) -> Split:
    """Asterisk runs each channel in its own thread: one channel's events are ordered, events of
    different channels interleave differently from run to run (03 and 04 show the same scenario
    interleaved two ways). So the comparison is per channel (exact order), per bridge, per
    device (DeviceStateChange comes from a separate thread: the sequence of distinct states),
    CDRs as a set (the CDR engine publishes them asynchronously), and everything that is not
    about a channel (responses, list items, security, OriginateResponse...) in session order."""
    out = Split()
    for m in msgs:
        norm = normalise(m, canon)
        if m.kind == "Event" and m.name == "DeviceStateChange" and m.get("ActionID") is None:
            dev = out.devices[canon.text(m.get("Device") or "")]
            if not dev or dev[-1] != m.get("State"):
                dev.append(m.get("State") or "")
            continue
        if m.kind == "Event" and m.name == "Cdr":
            out.cdrs[tuple(x for x in norm if x.split(":")[0] in ("Event", "Channel", "DestinationChannel",
                                                                   "Disposition", "LastApplication",
                                                                   "Source", "Destination", "DestinationContext"))] += 1
            continue
        chan = _channel_of(m)
        if m.kind == "Event" and m.name.startswith("Bridge"):
            out.bridges[canon.text(m.get("BridgeUniqueid") or "")].append(
                tuple(x for x in norm if x.split(":")[0] in ("Event", "BridgeType", "BridgeNumChannels", "Channel")))
            if chan is None:
                continue
        if chan is not None and m.kind == "Event" and m.get("ActionID") is None:
            token = canon.text(chan)
            if token not in out.channels:
                out.channel_order.append(token)
            out.channels[token].append(norm)
            continue
        out.session.append(norm)
    out.session = _sort_list_items(out.session)
    return out


def _sort_list_items(session: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Items of one list response (same event, same ActionID) come in Asterisk's hash-table
    order, which is not the creation order: compare them as a set."""
    out: list[tuple[str, ...]] = []
    run: list[tuple[str, ...]] = []

    def key(item: tuple[str, ...]) -> tuple[str, str] | None:
        aid = next((x for x in item if x.startswith("ActionID: ")), None)
        return (item[0], aid) if aid is not None and item[0].startswith("Event:") else None

    for item in session:
        if run and key(item) is not None and key(item) == key(run[-1]):
            run.append(item)
            continue
        out.extend(sorted(run))
        run = [item] if key(item) is not None else []
        if not run:
            out.append(item)
    out.extend(sorted(run))
    return out


def compare_ami(expected: list[AmiMessage], got: list[AmiMessage], label: str,
                spool: str | None = None, replace: dict[str, str] | None = None) -> list[str]:
    """Differences between a capture stream and the replay's stream (empty: they match)."""
    exp = split(kept(expected), Canon())
    act = split(kept(got), Canon(spool, replace))
    problems: list[str] = []

    def seq(name: str, a: list[Any], b: list[Any]) -> None:
        if a == b:
            return
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                problems.append(f"{label} {name} #{i}:\n  asterisk: {x}\n  pbxsim:   {y}")
                return
        problems.append(f"{label} {name}: asterisk has {len(a)}, pbxsim {len(b)}; first extra: "
                        f"{(a[len(b)] if len(a) > len(b) else b[len(a)])}")

    seq("session", exp.session, act.session)
    seq("channel creation order", exp.channel_order, act.channel_order)
    for token in exp.channel_order:
        seq(f"channel {token}", exp.channels[token], act.channels.get(token, []))
    for token in act.channel_order:
        if token not in exp.channels:
            problems.append(f"{label}: pbxsim has a channel Asterisk did not: {token}")
    seq("bridges", sorted(exp.bridges.values()), sorted(act.bridges.values()))
    seq("device states", sorted(exp.devices.items()), sorted(act.devices.items()))
    if exp.cdrs != act.cdrs:
        problems.append(f"{label} CDRs differ:\n  asterisk: {sorted(exp.cdrs.items())}\n  pbxsim:   {sorted(act.cdrs.items())}")
    return problems


def compare_agi(expected: list[AgiLine], got: list[AgiLine], label: str, spool: str | None = None,
                replace: dict[str, str] | None = None) -> list[str]:
    """The FastAGI conversation, line by line (Asterisk's lines; canonical values)."""
    ce, ca = Canon(), Canon(spool, replace)

    def norm(lines: list[AgiLine], canon: Canon) -> list[str]:
        out = []
        for line in lines:
            if line.direction != "<<":
                continue
            text = line.text
            if text.startswith("agi_threadid:"):
                text = "agi_threadid: <n>" if re.fullmatch(r"agi_threadid: \d+", text) else text
            out.append(canon.text(text))
        return out

    a, b = norm(expected, ce), norm(got, ca)
    if a == b:
        return []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return [f"{label} AGI line #{i}: asterisk {x!r} pbxsim {y!r}"]
    return [f"{label} AGI: asterisk sent {len(a)} lines, pbxsim {len(b)}"]


# ---- live clients ----------------------------------------------------------------------------
class AmiRecorder:
    """An AMI client that keeps every message it receives (as capture AmiMessages)."""

    def __init__(self, label: str, t0: float) -> None:
        self.label = label
        self.t0 = t0
        self.msgs: list[AmiMessage] = []
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.eof = asyncio.Event()
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.sent: list[tuple[float, str]] = []

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.reader is not None
        first = True
        current: AmiMessage | None = None
        while True:
            try:
                raw = await self.reader.readuntil(b"\r\n")
            except asyncio.IncompleteReadError:
                self.eof.set()
                self.changed.set()
                return
            # like the capture tool: a bare CR or LF inside a line is shown as \r / \n
            line = raw[:-2].decode("utf-8", "replace").replace("\r", "\\r").replace("\n", "\\n")
            now = time.monotonic() - self.t0
            if first:
                first = False
                self.msgs.append(AmiMessage("<<", now, banner=line))
                self.changed.set()
                continue
            if line == "":
                if current is not None:
                    self.msgs.append(current)
                    current = None
                    self.changed.set()
                continue
            key, sep, value = line.partition(": ")
            if not sep:
                key, value = line.rstrip(":"), ""
            if current is None:
                current = AmiMessage("<<", now)
            current.headers.append((key, value))

    def send(self, headers: list[tuple[str, str]]) -> None:
        assert self.writer is not None
        self.sent.append((time.monotonic() - self.t0, headers[0][1] if headers else ""))
        self.writer.write(("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode())

    async def close(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


class ScriptedAgi:
    """A FastAGI server that replays, connection by connection, what the capture's server did."""

    def __init__(self, capture: Capture, speed: float, rewrite: Callable[[str], str], t0: float) -> None:
        self.scripts = [s for label, s in sorted(capture.streams.items()) if s.is_agi]
        self.speed = speed
        self.rewrite = rewrite
        self.t0 = t0
        self.received: list[list[AgiLine]] = []
        self.server: asyncio.base_events.Server | None = None
        self.done: list[asyncio.Event] = []
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self.received)
        got: list[AgiLine] = []
        self.received.append(got)
        finished = asyncio.Event()
        self.done.append(finished)
        if index >= len(self.scripts):
            writer.close()
            finished.set()
            return
        script = self.scripts[index]
        lines = [i for i in script.items if isinstance(i, AgiLine)]
        close_at = next((t for t, note in script.notes if t is not None and "closes the socket" in note), None)

        async def read_line() -> str | None:
            raw = await reader.readline()
            if not raw:
                return None
            text = raw.decode("utf-8", "replace").rstrip("\n")
            got.append(AgiLine("<<", time.monotonic() - self.t0, text))
            return text

        try:
            while (text := await read_line()) not in ("", None):
                pass
            # Expected replies after each command, from the capture, decide how much to read.
            i = next(k for k, item in enumerate(lines) if item.direction == "<<" and item.text == "") + 1
            last_t = lines[i - 1].t
            while i < len(lines):
                item = lines[i]
                if item.direction == ">>":
                    pause = item.t - last_t
                    if pause > 0.05:
                        await asyncio.sleep(pause / self.speed)
                    writer.write((self.rewrite(item.text) + "\n").encode())
                    await writer.drain()
                    last_t = item.t
                    i += 1
                    continue
                # one line from Asterisk expected: read it
                try:
                    text = await asyncio.wait_for(read_line(), 10)
                except TimeoutError:
                    break
                if text is None:
                    break
                last_t = item.t
                i += 1
            if close_at is not None and close_at > last_t:
                await asyncio.sleep((close_at - last_t) / self.speed)
        finally:
            writer.close()
            finished.set()


Step = Callable[["Replay"], Awaitable[None]]


@dataclass
class ToolStep:
    """Something the capture tool did at capture time ``t`` (other than AMI/AGI traffic)."""

    t: float
    run: Step
    what: str = ""


class Replay:
    """Drives one capture's scenario against a running simulator."""

    def __init__(self, capture: Capture, sim: Any, speed: float, spool: Path,
                 tool_steps: list[ToolStep]) -> None:
        self.capture = capture
        self.sim = sim
        self.speed = speed
        self.spool = str(spool)
        self.tool_steps = tool_steps
        self.t0 = time.monotonic()
        self.clients: dict[str, AmiRecorder] = {}
        self.agi: ScriptedAgi | None = None
        self.timings: dict[str, float] = {}
        self.stalls: list[str] = []
        self._cap_canon: Canon | None = None
        self._sim_state: tuple[Canon, int] | None = None
        self._triggers: dict[float, Any] = {}

    # -- translation between capture and replay names --
    @property
    def replace(self) -> dict[str, str]:
        return {f"127.0.0.1:{self.agi.port}": "127.0.0.1:4573"} if self.agi is not None else {}

    def _capture_canon(self) -> Canon:
        if self._cap_canon is None:
            self._cap_canon = Canon()
            for m in kept(self.capture.streams["ami-mon"].ami()):
                normalise(m, self._cap_canon)
        return self._cap_canon

    def _sim_canon(self) -> Canon:
        """The replay's monitor stream, canonicalised incrementally."""
        mon = self.clients.get("ami-mon")
        if self._sim_state is None:
            self._sim_state = (Canon(self.spool, self.replace), 0)
        canon, done = self._sim_state
        if mon is not None and len(mon.msgs) > done:
            for m in mon.msgs[done:]:
                if m.direction == "<<" and not excluded(m):
                    normalise(m, canon)
            self._sim_state = (canon, len(mon.msgs))
        return canon

    def rewrite(self, text: str) -> str:
        """Capture names (channels, uniqueids, paths) in ``text`` -> the replay's."""
        text = text.replace(CAPTURE_SPOOL, self.spool)
        cap = self._capture_canon()
        sim_canon = self._sim_canon()
        chans, uids = sim_canon.reverse("CHAN"), sim_canon.reverse("UID")
        text = _CHAN.sub(lambda m: chans.get(cap.maps["CHAN"].get(m[0], ""), m[0]), text)
        return _UID.sub(lambda m: uids.get(cap.maps["UID"].get(m[0], ""), m[0]), text)

    # -- the schedule: every action at its capture time, after its trigger --
    def _events(self) -> list[tuple[float, str, Any]]:
        items: list[tuple[float, str, Any]] = []
        for label, stream in self.capture.streams.items():
            if stream.is_agi or label == "cli":
                continue
            connect_t = next((t for t, note in stream.notes if t is not None and "TCP connected" in note), 0.0)
            items.append((connect_t, "connect", label))
            for m in stream.ami(">>"):
                items.append((m.t, "send", (label, m)))
        for step in self.tool_steps:
            items.append((step.t, "tool", step))
        items.sort(key=lambda x: (x[0], 0 if x[1] == "connect" else 1))
        return items

    def _trigger(self, t: float, prefer: str | None) -> tuple[str, tuple[str, ...], int, float] | None:
        """The last message Asterisk sent before ``t``: (stream, its signature, which occurrence
        of that signature in the stream, its time)."""
        best: tuple[str, tuple[str, ...], int, float] | None = None
        for label, stream in self.capture.streams.items():
            if stream.is_agi or label == "cli":
                continue
            canon = Canon()
            seen: Counter[tuple[str, ...]] = Counter()
            for m in kept(stream.ami()):
                sig = signature(m, canon)
                seen[sig] += 1
                if m.name in ("DeviceStateChange", "Cdr"):
                    continue  # compared loosely: not reliable as a trigger
                if m.t <= t and (best is None or m.t > best[3] or (m.t == best[3] and label == prefer)):
                    best = (label, sig, seen[sig], m.t)
        return best

    async def _wait_sig(self, label: str, sig: tuple[str, ...], count: int, timeout: float = 5.0) -> bool:
        client = self.clients[label]
        deadline = time.monotonic() + timeout
        canon = Canon(self.spool, self.replace)
        seen = 0
        n = 0
        while not client.eof.is_set():
            msgs = client.msgs
            for m in kept(msgs[seen:]) if seen else kept(msgs):
                if signature(m, canon) == sig:
                    n += 1
            seen = len(msgs)
            if n >= count:
                return True
            client.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stalls.append(f"{label} waited for {sig} #{count}, got {n}")
                return False
            try:
                await asyncio.wait_for(client.changed.wait(), remaining)
            except TimeoutError:
                continue
        return True

    async def _wait_for(self, label: str, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``label`` received ``count`` compared messages; False (noted) on timeout:
        the comparison then shows what is missing."""
        client = self.clients[label]
        deadline = time.monotonic() + timeout
        while len(kept(client.msgs)) < count and not client.eof.is_set():
            client.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stalls.append(f"{label} waited for message #{count}, got {len(kept(client.msgs))}")
                return False
            try:
                await asyncio.wait_for(client.changed.wait(), remaining)
            except TimeoutError:
                continue
        return True

    async def run(self) -> None:
        if any(s.is_agi for s in self.capture.streams.values()):
            self.agi = ScriptedAgi(self.capture, self.speed, self.rewrite, self.t0)
            await self.agi.start()
            self.sim.pbx.globals["HOTLINE_AGI"] = f"agi://127.0.0.1:{self.agi.port}"
            self.sim.config.agi_url = f"agi://127.0.0.1:{self.agi.port}"
        previous = 0.0
        for t, kind, what in self._events():
            prefer = what[0] if kind == "send" else (what if kind == "connect" else "ami-mon")
            trig = self._trigger(t - 1e-9, prefer)
            if trig is not None and trig[0] in self.clients:
                await self._wait_sig(trig[0], trig[1], trig[2], timeout=(t - previous) / self.speed + 5.0)
                pause = t - trig[3]
                if pause > 0.002:
                    await asyncio.sleep(min(pause, 30.0) / self.speed)
            if kind == "connect":
                client = AmiRecorder(what, self.t0)
                self.clients[what] = client
                await client.connect(self.sim.ami_port)
                await self._wait_for(what, 1)
            elif kind == "send":
                label, m = what
                self.clients[label].send([(k, self.rewrite(v)) for k, v in m.headers])
            else:
                await what.run(self)
            previous = t
        # wait until every stream got as much as in the capture (or closed)
        for label in self.clients:
            want = len(kept(self.capture.streams[label].ami()))
            if not await self._wait_for(label, want, timeout=10.0):
                break
        if self.agi is not None:
            for ev in self.agi.done:
                await asyncio.wait_for(ev.wait(), 20)
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        if self.agi is not None:
            await self.agi.stop()

    def problems(self) -> list[str]:
        out: list[str] = list(self.stalls)
        for label, client in self.clients.items():
            stream: Stream = self.capture.streams[label]
            out += compare_ami(stream.ami(), client.msgs, f"{self.capture.name} {label}", self.spool, self.replace)
            closed_by_asterisk = any("EOF" in note for _, note in stream.notes)
            if closed_by_asterisk != client.eof.is_set():
                out.append(f"{self.capture.name} {label}: Asterisk closed the connection: "
                           f"{closed_by_asterisk}, pbxsim: {client.eof.is_set()}")
        if self.agi is not None:
            for k, script in enumerate(self.agi.scripts):
                got = self.agi.received[k] if k < len(self.agi.received) else []
                want = [i for i in script.items if isinstance(i, AgiLine)]
                out += compare_agi(want, got, f"{self.capture.name} agi-{k + 1}", self.spool, self.replace)
        return out
