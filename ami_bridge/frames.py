"""AMI framing and decoding: bytes from the socket in, whole messages out.

Framing is done on bytes, before any decoding, so a message split anywhere (inside the
``\\r\\n\\r\\n`` boundary, inside a multi-byte UTF-8 character of a caller's name, inside the
banner) comes out whole. Each message is then decoded as UTF-8; bytes that are not UTF-8 are
replaced by U+FFFD (never silently dropped, as panoramisk does with ``errors='ignore'``) and
counted, so a bad name is visible and the rest of the message is kept.

Headers land in a plain dict (Asterisk spells each header the same way every time; lookups
in other spellings fall back to a case-insensitive search). Repeated headers keep every
value: channel variables (``ChanVariable: NAME=value``, the legacy
``ChanVariable(chan): NAME=value``, and the ``Dest``/``LocalOne``/``LocalTwo`` prefixed
forms) are parsed into dicts, any other repeated header (``Output:`` of a ``Command``,
``Variable:`` of ``Status``) into a list.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

BANNER_PREFIX = b"Asterisk Call Manager/"
_EOM = b"\r\n\r\n"
# A message this large without an end is not AMI; drop it rather than grow without bound.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class AmiMessage:
    """One AMI message (an event, a response, or an action we send)."""

    __slots__ = ("headers", "variables", "multi", "bad_bytes", "_lower")

    def __init__(
        self,
        headers: dict[str, str],
        variables: dict[str, dict[str, str]] | None = None,
        multi: dict[str, list[str]] | None = None,
        bad_bytes: bool = False,
    ) -> None:
        self.headers = headers
        # prefix ("" for the channel itself, "Dest", "LocalOne", ...) -> {NAME: value}
        self.variables = variables
        self.multi = multi
        self.bad_bytes = bad_bytes
        self._lower: dict[str, str] | None = None

    @property
    def kind(self) -> str:
        """``Event`` or ``Response`` (or ``Action`` for what a client sends)."""
        for key in ("Event", "Response", "Action"):
            if key in self.headers:
                return key
        return ""

    @property
    def name(self) -> str:
        """The event name or the response status."""
        h = self.headers
        return h.get("Event") or h.get("Response") or h.get("Action") or ""

    @property
    def is_event(self) -> bool:
        return "Event" in self.headers

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.headers.get(key)
        if value is not None:
            return value
        if self._lower is None:
            self._lower = {k.lower(): k for k in self.headers}
        real = self._lower.get(key.lower())
        return self.headers[real] if real is not None else default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def values(self, key: str) -> list[str]:
        """Every value of a header that may repeat (``Output``, ``Variable``)."""
        if self.multi and key in self.multi:
            return list(self.multi[key])
        value = self.get(key)
        return [] if value is None else [value]

    def chanvars(self, prefix: str = "") -> dict[str, str]:
        """Channel variables of the channel (or of the ``Dest``/``LocalOne``... peer)."""
        if not self.variables:
            return {}
        return self.variables.get(prefix, {})

    def __repr__(self) -> str:
        return f"AmiMessage({self.headers!r})"


def _variable_prefix(key: str) -> str | None:
    """``ChanVariable`` -> "", ``DestChanVariable`` -> "Dest", ``ChanVariable(x)`` -> "";
    None for any other header."""
    idx = key.find("ChanVariable")
    if idx < 0:
        return None
    rest = key[idx + 12:]
    if rest and not rest.startswith("("):
        return None
    return key[:idx]


def parse_message(text: str, bad_bytes: bool = False) -> AmiMessage:
    """Parse the text of one message (lines joined by CRLF, no final blank line)."""
    headers: dict[str, str] = {}
    variables: dict[str, dict[str, str]] | None = None
    multi: dict[str, list[str]] | None = None
    last_key: str | None = None
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        # the common case first: a new, ordinary header
        if sep and key not in headers and "Variable" not in key and value[-1:] != "\n":
            headers[key] = value
            last_key = key
            continue
        if not sep:
            if line.endswith(":") and " " not in line:
                key, value = line[:-1], ""
            elif last_key is not None:
                # a line without a header name continues the previous value (legacy
                # "Response: Follows" bodies, or a stray line break inside a value)
                if line:
                    headers[last_key] = f"{headers[last_key]}\n{line}"
                continue
            else:
                continue
        if "ChanVariable" in key:
            prefix = _variable_prefix(key)
            if prefix is not None:
                name, _, var_value = value.partition("=")
                if variables is None:
                    variables = {}
                variables.setdefault(prefix, {})[name] = var_value
                continue
        if key in headers:
            if multi is None:
                multi = {}
            if key not in multi:
                multi[key] = [headers[key]]
            multi[key].append(value)
            continue
        headers[key] = value.rstrip("\n")
        last_key = key
    return AmiMessage(headers, variables, multi, bad_bytes)


def encode_action(headers: dict[str, str] | list[tuple[str, str]]) -> bytes:
    """Bytes of an action; a list of pairs may repeat a header (``Variable``)."""
    items = headers.items() if isinstance(headers, dict) else headers
    parts = []
    for key, value in items:
        text = str(value)
        if "\r" in text or "\n" in text:
            raise ValueError(f"AMI header {key!r} may not contain a line break")
        parts.append(f"{key}: {text}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


# A quick look at an event's raw bytes (buffer, start, end) before it is decoded: False
# means nobody wants it, and it is skipped unparsed.
RawFilter = Callable[[bytes | bytearray, int, int], bool]


def raw_header(src: bytes | bytearray, start: int, end: int, name: bytes) -> bytes | None:
    """The value of header ``name`` in a raw message, without parsing it."""
    i = src.find(b"\r\n" + name + b": ", start, end)
    if i < 0:
        return None
    i += len(name) + 4
    j = src.find(b"\r\n", i, end)
    return bytes(src[i: end if j < 0 else j])


class Framer:
    """Turns the byte stream of one connection into messages.

    ``feed`` accepts chunks of any size and split anywhere; ``version`` is the AMI version
    from the banner once it has arrived whole. The banner is optional: a stream whose first
    line is already a header is read as messages. An event for which ``want`` answers False
    is counted in ``skipped`` and never decoded.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan_from = 0
        self._banner_done = False
        self.version: str | None = None
        self.banner: str | None = None
        self.decode_errors = 0
        self.dropped_oversize = 0
        self.skipped = 0
        self._last_decode_log = 0.0

    def feed(self, data: bytes, want: RawFilter | None = None) -> Iterator[AmiMessage]:
        buf = self._buf
        if not self._banner_done:
            buf += data
            if not self._take_banner():
                return
            src: bytes | bytearray = buf
        elif buf:
            buf += data
            src = buf
        else:
            src = data  # nothing left over: work on the bytes as they came
        start = 0
        scan = self._scan_from if src is buf else 0
        while True:
            end = src.find(_EOM, scan)
            if end < 0:
                break
            if end > start:
                if want is not None and src.startswith(b"Event: ", start) and not want(src, start, end):
                    self.skipped += 1
                else:
                    yield self._decode(src[start:end])
            start = scan = end + 4
        if src is buf:
            if start:
                del buf[:start]
        elif start < len(src):
            buf += src[start:]
        self._scan_from = max(0, len(buf) - 3)
        if len(buf) > MAX_MESSAGE_BYTES:
            self.dropped_oversize += 1
            log.error("AMI message larger than %d bytes without an end: dropped", MAX_MESSAGE_BYTES)
            buf.clear()
            self._scan_from = 0

    def _take_banner(self) -> bool:
        buf = self._buf
        # Leading blank lines are tolerated.
        while buf.startswith(b"\r\n"):
            del buf[:2]
        end = buf.find(b"\r\n")
        if end < 0:
            # Not even one whole line yet; if it cannot be the banner, stop waiting for one.
            if len(buf) >= len(BANNER_PREFIX) and not buf.startswith(BANNER_PREFIX):
                self._banner_done = True
                return True
            return False
        line = bytes(buf[:end])
        self._banner_done = True
        if line.startswith(BANNER_PREFIX) or (b": " not in line and b"/" in line):
            self.banner = line.decode("utf-8", "replace")
            self.version = self.banner.partition("/")[2].strip() or None
            del buf[: end + 2]
        return True

    def _decode(self, chunk: bytes | bytearray) -> AmiMessage:
        try:
            return parse_message(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            self.decode_errors += 1
            now = time.monotonic()
            if now - self._last_decode_log > 1.0:
                self._last_decode_log = now
                log.warning(
                    "AMI message with bytes that are not UTF-8 (replaced by U+FFFD); "
                    "%d such messages so far", self.decode_errors,
                )
            return parse_message(chunk.decode("utf-8", "replace"), bad_bytes=True)
