"""Variable substitution (``${VAR}``, ``${FUNC(args)}``, ``${VAR:offset:len}``) and ``$[...]``.

Only what hotline's dialplan and the capture scenarios use is implemented: channel and global
variables, the built-ins EXTEN, CONTEXT, PRIORITY, UNIQUEID, CHANNEL, LINKEDID, EPOCH, and the
functions CALLERID, CONNECTEDLINE, IF, LEN, EXISTS, ISNULL. ``$[...]`` understands comparisons,
``&``, ``|``, ``!``, + - * / % and parentheses.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbxsim.channel import Channel


def substitute(text: str, chan: Channel | None, globals_: dict[str, str] | None = None) -> str:
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("${", i) or text.startswith("$[", i):
            opener = text[i + 1]
            closer = "}" if opener == "{" else "]"
            j = _matching(text, i + 1, opener, closer)
            if j < 0:
                out.append(text[i:])
                break
            inner = substitute(text[i + 2 : j], chan, globals_)
            if opener == "{":
                out.append(_lookup(inner, chan, globals_))
            else:
                out.append(evaluate(inner))
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _matching(text: str, start: int, opener: str, closer: str) -> int:
    depth = 0
    for k in range(start, len(text)):
        ch = text[k]
        if ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return k
    return -1


_SUBSTR = re.compile(r"^(.*?):(-?\d+)(?::(-?\d+))?$")


def _lookup(expr: str, chan: Channel | None, globals_: dict[str, str] | None) -> str:
    m = _SUBSTR.match(expr)
    if m and ("(" not in m[1] or m[1].endswith(")")):
        value = _value(m[1], chan, globals_)
        offset = int(m[2])
        length = int(m[3]) if m[3] is not None else None
        if offset < 0:
            offset = max(0, len(value) + offset)
        if length is None:
            return value[offset:]
        if length < 0:
            return value[offset:length]
        return value[offset : offset + length]
    return _value(expr, chan, globals_)


def _value(expr: str, chan: Channel | None, globals_: dict[str, str] | None) -> str:
    if "(" in expr and expr.endswith(")"):
        name, _, args = expr.partition("(")
        return function(name.strip(), args[:-1], chan)
    return variable(expr, chan, globals_)


def variable(name: str, chan: Channel | None, globals_: dict[str, str] | None = None) -> str:
    if chan is not None:
        value = chan.get_var(name)
        if value is not None:
            return value
        builtin = {
            "EXTEN": lambda c: c.exten,
            "CONTEXT": lambda c: c.context,
            "PRIORITY": lambda c: str(c.priority),
            "UNIQUEID": lambda c: c.uniqueid,
            "LINKEDID": lambda c: c.linkedid,
            "CHANNEL": lambda c: c.name,
            "HANGUPCAUSE": lambda c: str(c.hangupcause),
            "CALLERIDNUM": lambda c: c.caller.num or "",
            "CALLERIDNAME": lambda c: c.caller.name or "",
        }.get(name)
        if builtin is not None:
            return builtin(chan)
        g = globals_ if globals_ is not None else chan.pbx.globals
        if name in g:
            return g[name]
    elif globals_ and name in globals_:
        return globals_[name]
    if name == "EPOCH":
        return str(int(time.time()))
    return ""


def function(name: str, args: str, chan: Channel | None) -> str:
    upper = name.upper()
    if upper in ("CALLERID", "CONNECTEDLINE"):
        if chan is None:
            return ""
        party = chan.caller if upper == "CALLERID" else chan.connected
        what = args.strip().lower()
        if what in ("num", "number"):
            return party.num or ""
        if what == "name":
            return party.name or ""
        if what == "all":
            return f'"{party.name or ""}" <{party.num or ""}>'
        return ""
    if upper == "LEN":
        return str(len(args))
    if upper == "EXISTS":
        return "1" if args else "0"
    if upper == "ISNULL":
        return "0" if args else "1"
    if upper == "IF":
        cond, _, choices = args.partition("?")
        yes, _, no = choices.partition(":")
        return yes if is_true(cond) else no
    return ""


def is_true(value: str) -> bool:
    """pbx_checkcondition: empty is false; a number is true when non-zero; other text is true."""
    value = value.strip()
    if not value:
        return False
    try:
        return float(value) != 0
    except ValueError:
        return True


# ---- $[ ... ] -------------------------------------------------------------------------------
_TOKEN = re.compile(r'\s*(?:(")((?:[^"\\]|\\.)*)"|(<=|>=|!=|=~|[=<>&|!+\-*/%()?:])|([^\s=<>&|!+\-*/%()?:"]+))')


def evaluate(expr: str) -> str:
    tokens: list[tuple[str, str]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        if m[1]:
            tokens.append(("str", m[2]))
        elif m[3]:
            tokens.append(("op", m[3]))
        elif m[4]:
            tokens.append(("str", m[4]))
    if not tokens:
        return ""
    parser = _Parser(tokens)
    try:
        value = parser.ternary()
    except (IndexError, ValueError, ZeroDivisionError):
        return ""
    return _fmt(value)


def _num(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _fmt(value: str | float) -> str:
    if isinstance(value, float):
        return str(int(value)) if value == int(value) else str(value)
    return value


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> str | None:
        if self.i < len(self.t) and self.t[self.i][0] == "op":
            return self.t[self.i][1]
        return None

    def take(self) -> tuple[str, str]:
        tok = self.t[self.i]
        self.i += 1
        return tok

    def ternary(self) -> str | float:
        cond = self.or_()
        if self.peek() == "?":
            self.take()
            yes = self.or_()
            no: str | float = ""
            if self.peek() == ":":
                self.take()
                no = self.or_()
            return yes if is_true(_fmt(cond)) else no
        return cond

    def or_(self) -> str | float:
        left = self.and_()
        while self.peek() == "|":
            self.take()
            right = self.and_()
            left = left if is_true(_fmt(left)) else right
        return left

    def and_(self) -> str | float:
        left = self.cmp()
        while self.peek() == "&":
            self.take()
            right = self.cmp()
            left = left if is_true(_fmt(left)) and is_true(_fmt(right)) else 0.0
        return left

    def cmp(self) -> str | float:
        left = self.add()
        while self.peek() in ("=", "!=", "<", ">", "<=", ">="):
            op = self.take()[1]
            right = self.add()
            a, b = _fmt(left), _fmt(right)
            na, nb = _num(a), _num(b)
            x: object = a
            y: object = b
            if na is not None and nb is not None:
                x, y = na, nb
            res = {"=": x == y, "!=": x != y, "<": x < y, ">": x > y,  # type: ignore[operator]
                   "<=": x <= y, ">=": x >= y}[op]  # type: ignore[operator]
            left = 1.0 if res else 0.0
        return left

    def add(self) -> str | float:
        left = self.mul()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.mul()
            a, b = _num(_fmt(left)) or 0.0, _num(_fmt(right)) or 0.0
            left = a + b if op == "+" else a - b
        return left

    def mul(self) -> str | float:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()[1]
            right = self.unary()
            a, b = _num(_fmt(left)) or 0.0, _num(_fmt(right)) or 0.0
            left = a * b if op == "*" else (float(int(a / b)) if op == "/" else a % b)
        return left

    def unary(self) -> str | float:
        if self.peek() == "!":
            self.take()
            return 0.0 if is_true(_fmt(self.unary())) else 1.0
        if self.peek() == "-":
            self.take()
            return -(_num(_fmt(self.unary())) or 0.0)
        if self.peek() == "(":
            self.take()
            value = self.ternary()
            if self.peek() == ")":
                self.take()
            return value
        kind, text = self.take()
        num = _num(text)
        return num if num is not None else text


def split_args(data: str, sep: str = ",") -> list[str]:
    """Application arguments split on ``sep``, honouring quotes and (), [] nesting."""
    if data == "":
        return []
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    quote = False
    i = 0
    while i < len(data):
        ch = data[i]
        if ch == "\\" and i + 1 < len(data):
            cur.append(data[i + 1])
            i += 2
            continue
        if ch == '"':
            quote = not quote
        elif not quote and ch in "([":
            depth += 1
        elif not quote and ch in ")]":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0 and not quote:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out
