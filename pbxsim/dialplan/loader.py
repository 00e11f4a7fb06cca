"""Read ``extensions.conf`` with pyst2's ``asterisk.config`` parser.

pyst2's parser works on Python 3 for plain files like ``deploy/asterisk/extensions.conf``; what
it cannot do (and what this loader therefore refuses with a clear message rather than
misreading) is recorded in ``pbxsim/NOTES.md``:

* it cuts every line at the first ``;``, so an escaped ``\\;`` inside application data (as in
  the auto-answer pre-dial handler's SIP headers) would be lost: the loader hands pyst2 a copy
  with each ``\\;`` replaced by a placeholder and puts a literal ``;`` back in the values, which
  is what Asterisk's own parser makes of it;
* it rejects template categories (``[name](!)``) and ``#include``/``#exec`` lines;
* it keeps the blank after ``=`` in ``name = value`` items (we strip it).
"""

from __future__ import annotations

import re
from pathlib import Path

import asterisk.config as pyst_config

from pbxsim.dialplan.model import Context, Dialplan, DialplanError, Extension, Step

# Stands for an escaped ``\\;`` while pyst2 parses (it would cut the line there).
_SEMI = "\x1fSEMICOLON\x1f"
_PRIORITY = re.compile(r"^\s*(n|\d+|s)\s*(?:\(([^)]*)\))?\s*$")


def load_dialplan(path: str | Path) -> Dialplan:
    path = Path(path)
    if not path.is_file():
        raise DialplanError(f"{path}: dialplan file not found")
    raw = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(raw, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            raise DialplanError(f"{path}:{number}: {stripped.split()[0]} is not supported by the simulator")
    text = "\n".join(raw) + "\n"
    if "\\;" not in text:
        return _parse(path, path)
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False, encoding="utf-8") as fh:
        fh.write(text.replace("\\;", _SEMI))
        copy = Path(fh.name)
    try:
        return _parse(copy, path)
    finally:
        copy.unlink(missing_ok=True)


def _parse(file: Path, shown: Path) -> Dialplan:
    try:
        cfg = pyst_config.Config(str(file))
    except pyst_config.ParseError as exc:
        line_no, message = exc.args if len(exc.args) == 2 else ("?", str(exc))
        raise DialplanError(f"{shown}:{line_no}: {message}") from exc
    return build_dialplan(cfg, str(shown))


def load_dialplan_text(text: str, name: str = "<dialplan>") -> Dialplan:
    """Parse dialplan text (tests and generated scenarios) through the same pyst2 path."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False, encoding="utf-8") as fh:
        fh.write(text)
        tmp = Path(fh.name)
    try:
        plan = load_dialplan(tmp)
    except DialplanError as exc:
        raise DialplanError(str(exc).replace(str(tmp), name)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    plan.source = name
    return plan


def build_dialplan(cfg: pyst_config.Config, source: str) -> Dialplan:
    plan = Dialplan(source=source)
    for category in cfg.categories:
        name = category.name.strip()
        if name == "general":
            continue
        if name == "globals":
            for item in category.items:
                plan.globals[item.name.strip()] = item.value.strip().replace(_SEMI, ";")
            continue
        ctx = plan.contexts.setdefault(name, Context(name))
        last: tuple[Extension, int] | None = None
        for item in category.items:
            key = item.name.strip().lower()
            value = item.value.strip().replace(_SEMI, ";")
            where = f"{source}:{item.number}"
            if key == "include":
                ctx.includes.append(value)
                continue
            if key in ("ignorepat", "switch", "eswitch", "lswitch"):
                continue
            if key == "exten":
                pattern, sep, rest = value.partition(",")
                if not sep:
                    raise DialplanError(f"{where}: exten needs 'pattern,priority,App(args)'")
                pattern = pattern.strip()
                ext = ctx.extensions.setdefault(pattern, Extension(pattern))
                prev = max(ext.steps) if ext.steps else 0
            elif key == "same":
                if last is None:
                    raise DialplanError(f"{where}: 'same =>' before any 'exten =>' in [{name}]")
                ext, prev = last
                rest = value
            else:
                raise DialplanError(f"{where}: unknown dialplan keyword '{item.name.strip()}'")
            prio_text, sep, appspec = rest.partition(",")
            if prio_text.strip() == "hint":
                continue
            m = _PRIORITY.match(prio_text)
            if not m or not sep:
                raise DialplanError(f"{where}: bad priority '{prio_text.strip()}' (use a number or n)")
            prio = prev + 1 if m[1] == "n" else (1 if m[1] == "s" else int(m[1]))
            app, args = split_app(appspec.strip(), where)
            step = Step(prio, app, args, m[2], where)
            ext.steps[prio] = step
            if m[2]:
                ext.labels[m[2]] = prio
            last = (ext, prio)
    return plan


def split_app(spec: str, where: str = "") -> tuple[str, str]:
    """``App(args)`` -> (App, args); ``App`` alone has empty args."""
    if "(" not in spec:
        if not spec:
            raise DialplanError(f"{where}: missing application")
        return spec.strip(), ""
    app, _, rest = spec.partition("(")
    if not rest.endswith(")"):
        raise DialplanError(f"{where}: unbalanced parentheses in '{spec}'")
    return app.strip(), rest[:-1]
