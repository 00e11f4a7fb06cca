"""Contexts, extensions and priorities, with Asterisk's pattern matching (``_X.``, ``_1XXX``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class DialplanError(Exception):
    """A dialplan file the simulator cannot use; the message names the file and line."""


@dataclass(frozen=True)
class Step:
    """One priority: ``exten => pattern,priority(label),App(args)``."""

    priority: int
    app: str
    args: str
    label: str | None = None
    where: str = ""  # "file:line" for messages


@dataclass
class Extension:
    pattern: str
    steps: dict[int, Step] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    _regex: re.Pattern[str] | None = None

    @property
    def is_pattern(self) -> bool:
        return self.pattern.startswith("_")

    def matches(self, exten: str) -> bool:
        if not self.is_pattern:
            return self.pattern == exten
        if self._regex is None:
            self._regex = re.compile(pattern_regex(self.pattern))
        return self._regex.fullmatch(exten) is not None

    def specificity(self) -> tuple[int, ...]:
        """Sort key: Asterisk tries the most specific pattern first."""
        return tuple(_char_weight(tok) for tok in _tokens(self.pattern[1:]))


@dataclass
class Context:
    name: str
    extensions: dict[str, Extension] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)

    def find(self, exten: str) -> Extension | None:
        exact = self.extensions.get(exten)
        if exact is not None and not exact.is_pattern:
            return exact
        patterns = [e for e in self.extensions.values() if e.is_pattern and e.matches(exten)]
        if not patterns:
            return None
        return min(patterns, key=lambda e: e.specificity())


@dataclass
class Dialplan:
    contexts: dict[str, Context] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def find(self, context: str, exten: str, _seen: frozenset[str] = frozenset()) -> Extension | None:
        ctx = self.contexts.get(context)
        if ctx is None or context in _seen:
            return None
        found = ctx.find(exten)
        if found is not None:
            return found
        for inc in ctx.includes:
            found = self.find(inc, exten, _seen | {context})
            if found is not None:
                return found
        return None

    def step(self, context: str, exten: str, priority: int) -> Step | None:
        ext = self.find(context, exten)
        return None if ext is None else ext.steps.get(priority)

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        return self.step(context, exten, priority) is not None

    def has_context(self, context: str) -> bool:
        return context in self.contexts


def _tokens(body: str) -> list[str]:
    out, i = [], 0
    while i < len(body):
        if body[i] == "[":
            j = body.find("]", i)
            if j < 0:
                raise DialplanError(f"unclosed '[' in pattern _{body}")
            out.append(body[i : j + 1])
            i = j + 1
        else:
            out.append(body[i])
            i += 1
    return out


def _char_weight(tok: str) -> int:
    if tok == ".":
        return 1000
    if tok == "!":
        return 1001
    up = tok.upper()
    if up == "X":
        return 10
    if up == "Z":
        return 9
    if up == "N":
        return 8
    if tok.startswith("["):
        return len(_class_chars(tok[1:-1]))
    return 1


def _class_chars(inner: str) -> str:
    chars, i = [], 0
    while i < len(inner):
        if i + 2 < len(inner) and inner[i + 1] == "-":
            chars.extend(chr(c) for c in range(ord(inner[i]), ord(inner[i + 2]) + 1))
            i += 3
        else:
            chars.append(inner[i])
            i += 1
    return "".join(chars)


def pattern_regex(pattern: str) -> str:
    """``_1XXX`` -> ``1[0-9][0-9][0-9]``; ``.`` is one or more of anything, ``!`` zero or more."""
    parts = []
    for tok in _tokens(pattern[1:]):
        up = tok.upper()
        if tok == ".":
            parts.append(".+")
        elif tok == "!":
            parts.append(".*")
        elif up == "X":
            parts.append("[0-9]")
        elif up == "Z":
            parts.append("[1-9]")
        elif up == "N":
            parts.append("[2-9]")
        elif tok.startswith("["):
            parts.append("[" + re.escape(_class_chars(tok[1:-1])) + "]")
        else:
            parts.append(re.escape(tok))
    return "".join(parts)
