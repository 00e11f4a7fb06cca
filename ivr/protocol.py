"""The AGI wire format, as pure functions: the environment block, result lines, quoting and
the request URL. No I/O here, so the FastAGI server and the classic (pyst2) entry point read
Asterisk the same way.

Facts from the captures of a real Asterisk 22 (tests/fixtures/asterisk/03, 10, 11, 14):

* the environment is ``agi_key: value`` lines ending in LF, closed by an empty line;
  ``agi_network_script`` keeps the query string (``hotline?lang=zh&flow=main``);
* results are ``200 result=N``, optionally `` (data)`` and/or `` endpos=N``; a GET DATA
  timeout reads ``200 result= (timeout)`` (blank value);
* ``510 Invalid or unknown command``; ``511 Command Not Permitted on a dead channel ...``;
  ``520-Invalid command syntax...`` then plain usage lines then ``520 End of proper usage.``;
* ``HANGUP`` is a notice, not a result: it can arrive between a command and its result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

HANGUP_NOTICE = "HANGUP"

_RESULT = re.compile(
    r"^(?P<code>\d{3})\s+result=(?P<result>\S*)"
    r"(?:\s+\((?P<data>[^)]*)\))?"
    r"(?:\s+endpos=(?P<endpos>-?\d+))?"
    r"\s*$"
)
_SAFE_ARG = re.compile(r"^[^\s\"\\]+$")


@dataclass(frozen=True)
class AgiEnvironment:
    """What Asterisk told us about the call, plus the parsed request path and query."""

    values: dict[str, str]
    script: str
    query: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def channel(self) -> str:
        return self.get("agi_channel")

    @property
    def uniqueid(self) -> str:
        return self.get("agi_uniqueid")

    @property
    def callerid(self) -> str:
        return self.get("agi_callerid")

    @property
    def extension(self) -> str:
        return self.get("agi_extension")

    @property
    def args(self) -> list[str]:
        found = []
        n = 1
        while f"agi_arg_{n}" in self.values:
            found.append(self.values[f"agi_arg_{n}"])
            n += 1
        return found


def parse_env_line(line: str) -> tuple[str, str] | None:
    """``agi_key: value`` as (key, value); None for a line that is not one."""
    key, sep, value = line.partition(":")
    key = key.strip()
    if not sep or not key.startswith("agi_"):
        return None
    return key, value[1:] if value.startswith(" ") else value


def split_script(script: str) -> tuple[str, dict[str, str]]:
    """The route and the query of ``agi_network_script`` (``hotline?lang=zh`` ->
    (``hotline``, {lang: zh})). Repeated query keys keep the last value."""
    parts = urlsplit(script)
    path = unquote(parts.path).strip("/")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return path, query


def build_environment(values: dict[str, str]) -> AgiEnvironment:
    script = values.get("agi_network_script")
    if script is None:
        # agi_network_script is only sent when the URL has a path; fall back to the URL.
        request = values.get("agi_request", "")
        script = urlsplit(request).path if "://" in request else request
        query = urlsplit(request).query
        if query:
            script = f"{script}?{query}"
    path, query = split_script(script)
    return AgiEnvironment(values=dict(values), script=path, query=query)


@dataclass(frozen=True)
class AgiReply:
    """One result from Asterisk. ``result`` is the raw text after ``result=`` (may be '')."""

    code: int
    result: str
    data: str | None = None
    endpos: int | None = None
    line: str = ""

    @property
    def value(self) -> int | None:
        """``result`` as an int, or None when it is blank or not a number."""
        try:
            return int(self.result)
        except ValueError:
            return None

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"


class AgiProtocolError(Exception):
    """Asterisk said something that is not an AGI result line."""


def parse_result(line: str) -> AgiReply:
    """Parse a ``200 result=...`` line (or 5xx text). Raises AgiProtocolError otherwise."""
    m = _RESULT.match(line)
    if m:
        endpos = m["endpos"]
        return AgiReply(
            code=int(m["code"]),
            result=m["result"],
            data=m["data"],
            endpos=int(endpos) if endpos is not None else None,
            line=line,
        )
    head = line[:3]
    if head.isdigit() and (len(line) == 3 or line[3] in " -"):
        return AgiReply(code=int(head), result="", data=line[4:].strip() or None, line=line)
    raise AgiProtocolError(f"not an AGI result line: {line!r}")


def quote_arg(value: str) -> str:
    """One AGI argument: as is when it needs no quoting, else in double quotes with
    backslash escapes (Asterisk's AGI parser understands both). Empty becomes ``""``."""
    if value and _SAFE_ARG.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def command_line(*words: str) -> str:
    """A command as it goes on the wire (without the LF): verb words as given, arguments
    quoted as needed. Usage: ``command_line("SET", "VARIABLE", quote_arg(n), quote_arg(v))``."""
    line = " ".join(words)
    if "\n" in line or "\r" in line:
        raise ValueError(f"AGI command may not contain a line break: {line!r}")
    return line
