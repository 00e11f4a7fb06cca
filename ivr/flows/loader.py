"""Load call flows from YAML and refuse bad ones with ``file:line: reason``.

Used at start-up (the IVR refuses to start with a bad flow) and by ``hotline flows check``.
Every problem of every file is collected before refusing, so one run shows them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from hotline.domain.ring import RingPolicy
from ivr.flows.checks import check_flow
from ivr.flows.schema import Flow
from ivr.yamldoc import InvalidFileError, Problem, YamlDoc, load_yaml, validation_problems

FLOW_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedFlow:
    flow: Flow
    file: str


@dataclass
class FlowSet:
    """Every flow of the hotline, by name and by the AGI route it serves."""

    flows: dict[str, LoadedFlow] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)

    def by_route(self, route: str) -> Flow | None:
        name = self.routes.get(route)
        return self.flows[name].flow if name else None

    def by_name(self, name: str) -> Flow | None:
        loaded = self.flows.get(name)
        return loaded.flow if loaded else None


def _describe(loc: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """Word a pydantic location inside a flow: ``node 'menu': timeout``."""
    if len(loc) >= 2 and loc[0] == "nodes":
        rest = loc[2:]
        # a discriminated union puts the kind tag after the node name: drop it
        if rest and rest[0] in _KIND_TAGS:
            rest = rest[1:]
        return f"node {loc[1]!r}: ", rest
    return "", loc


_KIND_TAGS = frozenset(
    ("answer", "play", "menu", "hours", "route", "callback", "category", "hangup",
     "blacklist", "record", "goto")
)


def parse_flow(
    doc: YamlDoc,
    *,
    prompt_exists: Callable[[str], bool] | None = None,
    ring: RingPolicy | None = None,
) -> tuple[Flow | None, list[Problem]]:
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "a flow file must be a mapping with name, start and nodes")]
    try:
        flow = Flow.model_validate(doc.data)
    except ValidationError as exc:
        return None, validation_problems(doc, exc, _describe)
    return flow, check_flow(flow, doc, prompt_exists=prompt_exists, ring=ring)


def load_flow_file(
    path: Path,
    *,
    prompt_exists: Callable[[str], bool] | None = None,
    ring: RingPolicy | None = None,
    display: str | None = None,
) -> Flow:
    """One flow, or InvalidFileError with every problem of the file."""
    doc, problems = load_yaml(path, display)
    flow = None
    if doc is not None and not problems:  # after a duplicate key, later errors would mislead
        flow, more = parse_flow(doc, prompt_exists=prompt_exists, ring=ring)
        problems += more
    if problems or flow is None:
        raise InvalidFileError(problems)
    return flow


def discover(paths: Iterable[Path], exclude: Sequence[Path] = ()) -> list[Path]:
    """Flow files among ``paths`` (files as given, folders searched for *.yaml / *.yml)."""
    skip = {p.resolve() for p in exclude}
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            candidates = sorted(p for p in path.iterdir() if p.suffix in FLOW_SUFFIXES and p.is_file())
        else:
            candidates = [path]
        found += [p for p in candidates if p.resolve() not in skip]
    return found


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working directory if inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_flows(
    paths: Sequence[Path],
    *,
    prompt_exists: Callable[[str], bool] | None = None,
    ring: RingPolicy | None = None,
) -> FlowSet:
    """All flows in ``paths``; InvalidFileError lists every problem of every file, including
    two flows with one name or one route."""
    problems: list[Problem] = []
    flows = FlowSet()
    if not paths:
        raise InvalidFileError([Problem("(flows)", None, "no flow files found")])
    for path in paths:
        shown = display_path(path)
        try:
            flow = load_flow_file(path, prompt_exists=prompt_exists, ring=ring, display=shown)
        except InvalidFileError as exc:
            problems += exc.problems
            continue
        doc_line = _line_of(path, shown)
        if flow.name in flows.flows:
            first = flows.flows[flow.name].file
            problems.append(Problem(shown, doc_line("name"), f"flow name {flow.name!r} is already used by {first}"))
            continue
        flows.flows[flow.name] = LoadedFlow(flow, shown)
        for route in flow.routes:
            if route in flows.routes:
                other = flows.flows[flows.routes[route]].file
                problems.append(Problem(shown, doc_line("routes"), f"route {route!r} is already served by {other}"))
            else:
                flows.routes[route] = flow.name
    if problems:
        raise InvalidFileError(problems)
    return flows


def _line_of(path: Path, shown: str) -> Callable[[str], int | None]:
    doc, _ = load_yaml(path, shown)
    return lambda key: doc.line((key,)) if doc is not None else None
