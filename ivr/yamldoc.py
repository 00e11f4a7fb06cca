"""YAML read with the line of every key and value kept, so that a refused flow or prompt
catalogue names ``file:line: reason`` the way a compiler does.

PyYAML's composer gives every node a ``start_mark``; we compose once, construct the data from
the same node tree and record, for each path of keys (``("nodes", "menu", "timeout")``), the
1-based line where its value starts. Duplicate keys, which PyYAML silently lets the last one
win, are reported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

Path_ = tuple[str, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One reason a file is refused, at a line (None when it concerns the whole file)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class InvalidFileError(Exception):
    """A flow or prompt file that hotline refuses; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class YamlDoc:
    file: str
    data: Any
    marks: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Sequence[Any]) -> int | None:
        """Line of the deepest part of ``path`` that exists in the file."""
        best = self.marks.get(())
        current: Path_ = ()
        for part in path:
            candidate = (*current, str(part))
            if candidate in self.marks:
                current = candidate
                best = self.marks[candidate]
            # parts that are not in the file (a pydantic union tag, an index) are skipped
        return best

    def problem(self, path: Sequence[Any], message: str) -> Problem:
        return Problem(self.file, self.line(path), message)


def load_yaml(path: Path, display: str | None = None) -> tuple[YamlDoc | None, list[Problem]]:
    """Read ``path``; returns the document (None if unreadable) and any problems found."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(name, None, "file not found")]
    except UnicodeDecodeError as exc:
        return None, [Problem(name, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return None, [Problem(name, None, f"cannot read: {exc.strerror}")]
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem(name, None, "the file is empty")]
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [Problem(name, line, f"not valid YAML: {reason}")]
    except yaml.YAMLError as exc:
        return None, [Problem(name, None, f"not valid YAML: {exc}")]
    finally:
        loader.dispose()
    doc = YamlDoc(name, data)
    problems: list[Problem] = []
    _walk(node, (), doc, problems)
    return doc, problems


def _walk(node: yaml.Node, path: Path_, doc: YamlDoc, problems: list[Problem]) -> None:
    doc.marks.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    Problem(doc.file, line, f"duplicate key {key!r} (first at line {seen[key]})")
                )
                continue
            seen[key] = line
            doc.marks[(*path, key)] = line
            _walk(value_node, (*path, key), doc, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, str(i)), doc, problems)


def validation_problems(
    doc: YamlDoc, exc: ValidationError, describe: Any = None
) -> list[Problem]:
    """Pydantic errors as problems at the line of the offending key.

    ``describe(loc) -> (prefix, field_path)`` lets the caller word the location (for flows:
    "node 'menu'" and the field inside it).
    """
    problems = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        prefix, field_path = describe(loc) if describe else ("", loc)
        field_name = ".".join(p for p in field_path if p != "[key]")
        kind = err["type"]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if kind == "missing":
            text = f"missing {field_name!r}"
        elif kind == "extra_forbidden":
            text = f"unknown key {field_name!r}"
        elif kind == "union_tag_invalid":
            ctx = err.get("ctx", {})
            text = f"unknown kind {ctx.get('tag')!r} (expected one of {ctx.get('expected_tags')})"
            loc = (*loc, "kind")
        elif kind == "union_tag_not_found":
            text = "missing 'kind'"
        else:
            given = err.get("input")
            # our own value errors already name the value
            shown = "" if kind == "value_error" or isinstance(given, dict | list) else f" (got {given!r})"
            text = f"{field_name}: {msg}{shown}" if field_name else f"{msg}{shown}"
        problems.append(doc.problem(loc, f"{prefix}{text}"))
    return problems
