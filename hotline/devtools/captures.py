"""Read the raw AMI / FastAGI transcripts captured from a real Asterisk 22.

The transcripts (``tests/fixtures/asterisk/*.txt``, copied from ``shared/asterisk/captures``)
are the ground truth for the PBX simulator's conformance tests and for replaying real event
streams into the bridge. Each file holds several streams (``#### STREAM <label>: ...``); in
each, ``<<`` lines are what Asterisk sent and ``>>`` lines what the client sent. An AMI
message's first line carries ``[seconds]``, a bare ``<<`` ends the message; FastAGI lines
each carry their own ``[seconds]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "asterisk"

_STREAM = re.compile(r"^#### STREAM (\S+): (.*)$")
_TIMED = re.compile(r"^(<<|>>) \[\s*([0-9.]+)\] ?(.*)$")


@dataclass
class AmiMessage:
    """One AMI message (or the banner) in one direction, headers in wire order."""

    direction: str  # "<<" from Asterisk, ">>" from the client
    t: float
    headers: list[tuple[str, str]] = field(default_factory=list)
    banner: str | None = None

    @property
    def kind(self) -> str:
        """``Event``, ``Response`` or ``Action`` (or ``Banner``)."""
        if self.banner is not None:
            return "Banner"
        return self.headers[0][0] if self.headers else ""

    @property
    def name(self) -> str:
        """The event name, response status or action name."""
        if self.banner is not None:
            return self.banner
        return self.headers[0][1] if self.headers else ""

    def get(self, key: str, default: str | None = None) -> str | None:
        low = key.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return default

    def keys(self) -> list[str]:
        return [k for k, _ in self.headers]

    def as_dict(self) -> dict[str, str]:
        """Headers as a dict; repeated keys (ChanVariable) keep the last value."""
        return dict(self.headers)

    def wire(self) -> bytes:
        """The bytes as they were on the socket."""
        if self.banner is not None:
            return f"{self.banner}\r\n".encode()
        return "".join(f"{k}: {v}\r\n" for k, v in self.headers).encode() + b"\r\n"


@dataclass
class AgiLine:
    direction: str
    t: float
    text: str


@dataclass
class Stream:
    label: str
    description: str
    items: list[AmiMessage | AgiLine] = field(default_factory=list)
    notes: list[tuple[float | None, str]] = field(default_factory=list)

    @property
    def is_agi(self) -> bool:
        return self.label.startswith("agi")

    def ami(self, direction: str | None = None) -> list[AmiMessage]:
        return [
            m for m in self.items
            if isinstance(m, AmiMessage) and (direction is None or m.direction == direction)
        ]

    def events(self) -> list[AmiMessage]:
        return [m for m in self.ami("<<") if m.kind == "Event"]


@dataclass
class Capture:
    name: str
    header: str
    streams: dict[str, Stream]


def _split_header(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(": ")
    if not sep:
        # "Key:" with nothing after it keeps the key, value empty
        return line.rstrip(":"), ""
    return key, value


def parse_capture(path: Path) -> Capture:
    header_lines: list[str] = []
    streams: dict[str, Stream] = {}
    current: Stream | None = None
    pending: AmiMessage | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        if m := _STREAM.match(raw):
            current = Stream(m[1], m[2])
            streams[current.label] = current
            pending = None
            continue
        if raw.startswith("#### END STREAM"):
            current, pending = None, None
            continue
        if current is None:
            if raw.startswith("#"):
                header_lines.append(raw[2:] if raw.startswith("# ") else raw[1:])
            continue
        if raw.startswith("#!"):
            t = re.match(r"^#! \[\s*([0-9.]+)\]\s*(.*)$", raw)
            current.notes.append((float(t[1]), t[2]) if t else (None, raw[2:].strip()))
            continue
        if not (raw.startswith("<<") or raw.startswith(">>")):
            continue
        direction = raw[:2]
        if current.is_agi:
            t = _TIMED.match(raw)
            if t:
                current.items.append(AgiLine(direction, float(t[2]), t[3]))
            else:  # bare "<<": the empty line ending the agi_ environment
                current.items.append(AgiLine(direction, current.items[-1].t if current.items else 0.0, ""))
            continue
        t = _TIMED.match(raw)
        if t:
            text = t[3]
            if pending is None and ": " not in text and not text.endswith(":") and direction == "<<":
                current.items.append(AmiMessage(direction, float(t[2]), banner=text))
                continue
            pending = AmiMessage(direction, float(t[2]))
            current.items.append(pending)
            pending.headers.append(_split_header(text))
            continue
        body = raw[3:] if len(raw) > 2 else ""
        if body == "" and raw.rstrip() == direction:
            pending = None  # end of message
            continue
        if pending is not None:
            pending.headers.append(_split_header(body))
    return Capture(path.stem, "\n".join(header_lines), streams)


def load(name: str) -> Capture:
    """Load a capture by file stem or number prefix (``"03"`` or ``"03-fastagi-..."``)."""
    matches = sorted(FIXTURES.glob(f"{name}*.txt"))
    if not matches:
        raise FileNotFoundError(f"no capture {name!r} in {FIXTURES}")
    return parse_capture(matches[0])


def all_captures() -> list[Capture]:
    return [parse_capture(p) for p in sorted(FIXTURES.glob("[0-9][0-9]-*.txt"))]
