"""AMI framing: CRLF header lines, a blank line ends a message.

Asterisk reads lines up to LF and drops a trailing CR, so clients that send bare LF work too;
we do the same. A header is ``Key: value``; a line without a colon is kept as a key with an
empty value (Asterisk simply never matches it).
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[str, str]]

BANNER_VERSION = "11.0.0"


def encode(headers: Iterable[tuple[str, str]]) -> bytes:
    """One AMI message, blank line included."""
    return ("".join([f"{k}: {v}\r\n" for k, v in headers]) + "\r\n").encode("utf-8", "surrogateescape")


class ActionMessage:
    """An action as the client sent it: headers in order, looked up case-insensitively."""

    __slots__ = ("headers",)

    def __init__(self, headers: Headers) -> None:
        self.headers = headers

    def get(self, key: str, default: str | None = None) -> str | None:
        low = key.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        low = key.lower()
        return [v for k, v in self.headers if k.lower() == low]

    @property
    def action(self) -> str | None:
        value = self.get("Action")
        return value.strip() if value is not None else None

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def __repr__(self) -> str:
        return f"ActionMessage({self.headers!r})"


class LineReader:
    """Turns a byte stream into complete action messages."""

    def __init__(self, max_line: int = 65536) -> None:
        self._buf = bytearray()
        self._lines: Headers = []
        self._max_line = max_line

    def feed(self, data: bytes) -> list[ActionMessage]:
        self._buf += data
        out: list[ActionMessage] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self._max_line:  # a runaway line: drop it like Asterisk does
                    self._buf.clear()
                break
            raw = bytes(self._buf[:nl]).rstrip(b"\r")
            del self._buf[: nl + 1]
            if not raw:
                if self._lines:
                    out.append(ActionMessage(self._lines))
                    self._lines = []
                continue
            line = raw.decode("utf-8", "replace")
            key, sep, value = line.partition(":")
            self._lines.append((key.strip(), value.lstrip() if sep else ""))
        return out
