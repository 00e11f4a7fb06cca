"""Checks on a flow's graph that no single node can make: references, reachability, loops,
prompts, and the order rules of the hotline (answer before any sound, greeting first).

Each check returns problems located at the line of the node or field at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hotline.domain.ring import RingPolicy
from ivr.flows.schema import (
    AnswerNode,
    BlacklistNode,
    CallbackNode,
    Flow,
    HangupNode,
    MenuNode,
    PlayNode,
    RecordNode,
    RouteNode,
    edges,
    prompt_fields,
    waits_for_caller,
)
from ivr.yamldoc import Problem, YamlDoc

PromptExists = Callable[[str], bool]


def check_flow(
    flow: Flow,
    doc: YamlDoc,
    *,
    prompt_exists: PromptExists | None = None,
    ring: RingPolicy | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    problems += _references(flow, doc)
    if problems:
        return problems  # the graph checks below need every reference to resolve
    problems += _unreachable(flow, doc)
    looped: set[str] = set()
    problems += _loops_without_input(flow, doc, looped)
    problems += _no_exit(flow, doc, looped)
    problems += _order(flow, doc)
    problems += _menu_digits(flow, doc)
    if prompt_exists is not None:
        problems += _prompts(flow, doc, prompt_exists)
    if ring is not None:
        problems += _ring_window(flow, doc, ring)
    return problems


def _node_path(name: str, *rest: str) -> tuple[str, ...]:
    return ("nodes", name, *rest)


def _references(flow: Flow, doc: YamlDoc) -> list[Problem]:
    problems = []
    if flow.start not in flow.nodes:
        problems.append(doc.problem(("start",), f"start node {flow.start!r} is not defined"))
    for name, node in flow.nodes.items():
        for path, target in edges(node):
            if target is not None and target not in flow.nodes:
                hint = _closest(target, flow.nodes)
                problems.append(
                    doc.problem(
                        _node_path(name, *path),
                        f"node {name!r}: {'.'.join(path)} goes to unknown node {target!r}{hint}",
                    )
                )
    return problems


def _closest(name: str, known: Iterable[str]) -> str:
    import difflib

    match = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _successors(flow: Flow, name: str) -> list[str]:
    return [t for _, t in edges(flow.nodes[name]) if t is not None]


def _reachable(flow: Flow) -> list[str]:
    seen: dict[str, None] = {}
    stack = [flow.start]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen[name] = None
        stack.extend(reversed(_successors(flow, name)))
    return list(seen)


def _unreachable(flow: Flow, doc: YamlDoc) -> list[Problem]:
    reached = set(_reachable(flow))
    return [
        doc.problem(_node_path(name), f"node {name!r} is unreachable from start {flow.start!r}")
        for name in flow.nodes
        if name not in reached
    ]


def _components(flow: Flow, allowed: Callable[[str], bool]) -> list[list[str]]:
    """Strongly connected components with a cycle, among ``allowed`` nodes (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(name: str) -> None:
        nonlocal counter
        index[name] = low[name] = counter
        counter += 1
        stack.append(name)
        on_stack.add(name)
        for nxt in _successors(flow, name):
            if not allowed(nxt):
                continue
            if nxt not in index:
                visit(nxt)
                low[name] = min(low[name], low[nxt])
            elif nxt in on_stack:
                low[name] = min(low[name], index[nxt])
        if low[name] == index[name]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == name:
                    break
            if len(members) > 1 or name in _successors(flow, name):
                found.append(members)

    for name in _reachable(flow):  # reachable order: the first node met names the loop
        if allowed(name) and name not in index:
            visit(name)
    return found


def _cycle_text(flow: Flow, members: list[str]) -> str:
    """One way round a loop, for the message: ``a -> b -> a``."""
    order = [n for n in _reachable(flow) if n in members]
    start, inside = order[0], set(members)
    path, seen, name = [start], {start}, start
    while True:
        nxt = next((t for t in _successors(flow, name) if t in inside and t not in seen), None)
        if nxt is None:
            back = start if start in _successors(flow, name) else None
            return " -> ".join([*path, back] if back else [*path, "..."])
        path.append(nxt)
        seen.add(nxt)
        name = nxt


def _first(flow: Flow, members: list[str]) -> str:
    return next(n for n in _reachable(flow) if n in members)


def _loops_without_input(flow: Flow, doc: YamlDoc, reported: set[str]) -> list[Problem]:
    """A cycle through nodes that never wait for the caller would spin forever."""
    problems = []
    for members in _components(flow, lambda n: not waits_for_caller(flow.nodes[n])):
        reported.update(members)
        problems.append(
            doc.problem(
                _node_path(_first(flow, members)),
                "loop without exit: it never waits for the caller, so it would repeat "
                f"forever ({_cycle_text(flow, members)})",
            )
        )
    return problems


def _no_exit(flow: Flow, doc: YamlDoc, reported: set[str]) -> list[Problem]:
    """Loops from which the call can never end (by a hang-up or the agent conversation);
    one problem per loop, at its first node (``reported``: nodes already in a problem)."""
    can_end = {
        name for name, node in flow.nodes.items() if any(t is None for _, t in edges(node))
    }
    changed = True
    while changed:
        changed = False
        for name in flow.nodes:
            if name not in can_end and any(t in can_end for t in _successors(flow, name)):
                can_end.add(name)
                changed = True
    problems = []
    for members in _components(flow, lambda n: n not in can_end):
        if reported.intersection(members):
            continue
        reported.update(members)
        problems.append(
            doc.problem(
                _node_path(_first(flow, members)),
                f"loop without exit: the call can never end once in it ({_cycle_text(flow, members)})",
            )
        )
    return problems


def _menu_digits(flow: Flow, doc: YamlDoc) -> list[Problem]:
    problems = []
    for name, node in flow.nodes.items():
        if isinstance(node, MenuNode):
            for key in node.options:
                if len(key) > node.max_digits:
                    problems.append(
                        doc.problem(
                            _node_path(name, "options", key),
                            f"node {name!r}: option {key!r} has {len(key)} digits but "
                            f"max_digits is {node.max_digits}",
                        )
                    )
    return problems


def _plays_audio(node: Any) -> bool:
    if isinstance(node, HangupNode):
        return bool(node.prompt)
    return isinstance(node, PlayNode | MenuNode | RouteNode | CallbackNode)


def _first_prompt(node: Any) -> str | None:
    match node:
        case PlayNode():
            return node.prompt[0]
        case MenuNode():
            return node.prompt
        case HangupNode() if node.prompt:
            return node.prompt[0]
    return None


def _order(flow: Flow, doc: YamlDoc) -> list[Problem]:
    """On every path: ANSWER once, before any sound or recording; then the greeting first."""
    problems: dict[str, Problem] = {}
    seen: set[tuple[str, bool, bool]] = set()
    stack: list[tuple[str, bool, bool]] = [(flow.start, flow.answered, False)]
    greeting = flow.greeting
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        name, answered, greeted = state
        node = flow.nodes[name]
        where = _node_path(name)
        if isinstance(node, AnswerNode):
            if answered:
                problems.setdefault(name, doc.problem(where, f"node {name!r} answers a call that is already answered"))
            answered = True
        needs_answer = _plays_audio(node) or isinstance(node, RecordNode) or (
            isinstance(node, BlacklistNode) and node.record
        )
        if needs_answer and not answered:
            what = "records" if not _plays_audio(node) else "plays sound"
            problems.setdefault(
                name,
                doc.problem(where, f"node {name!r} {what} before the call is answered: put an answer node first"),
            )
        if greeting and answered and not greeted and _plays_audio(node):
            first = _first_prompt(node)
            if first != greeting:
                heard = f"{first!r}" if first else f"a {type(node).__name__.removesuffix('Node').lower()} node"
                problems.setdefault(
                    name,
                    doc.problem(
                        where,
                        f"node {name!r} plays {heard} before the greeting {greeting!r}: the greeting "
                        "must be the first prompt of every answered call (rule 1.2)",
                    ),
                )
            greeted = True
        for target in _successors(flow, name):
            stack.append((target, answered, greeted))
    return list(problems.values())


def _prompts(flow: Flow, doc: YamlDoc, exists: PromptExists) -> list[Problem]:
    problems = []
    if flow.greeting and not exists(flow.greeting):
        problems.append(doc.problem(("greeting",), f"greeting prompt {flow.greeting!r} is not in the prompt catalogue"))
    for name, node in flow.nodes.items():
        for path, prompt in prompt_fields(node):
            if not exists(prompt):
                problems.append(
                    doc.problem(
                        _node_path(name, *path),
                        f"node {name!r}: prompt {prompt!r} is not in the prompt catalogue",
                    )
                )
    return problems


def _ring_window(flow: Flow, doc: YamlDoc, ring: RingPolicy) -> list[Problem]:
    problems = []
    for name, node in flow.nodes.items():
        if isinstance(node, AnswerNode) and not ring.min_ring <= node.ring <= ring.max_ring:
            problems.append(
                doc.problem(
                    _node_path(name, "ring"),
                    f"node {name!r}: ring {node.ring} is outside the answer window "
                    f"(ring {ring.min_ring} to {ring.max_ring}, rule 1.1)",
                )
            )
    return problems
