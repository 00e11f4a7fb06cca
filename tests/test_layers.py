"""Imports point downwards, never in a circle (the layout rule of the design card).

Components: the bottom (settings, domain, db, bus), services (the bridge, the IVR, recordings,
the scheduler, CRM, accounts, reports) and entry points (CLI, web, app wiring, the simulator).
A component may import its own layer only if the graph of components stays acyclic.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

COMPONENTS = {
    # bottom
    "hotline.domain.enums": 0, "hotline.settings": 0, "hotline.domain": 0, "hotline.db": 0, "hotline.bus": 0,
    "hotline.logging_setup": 0,
    # services
    "ami_bridge": 1, "ivr": 1, "recordings": 1, "scheduler": 1, "hotline.crm": 1,
    "hotline.accounts": 1, "hotline.reports": 1, "hotline.backup": 1,
    # entry points and tools
    "hotline.cli": 2, "hotline.web": 2, "hotline.app": 2, "hotline.demo": 2, "pbxsim": 2, "hotline.devtools": 2,
}


def component_of(module: str) -> str | None:
    best = None
    for comp in COMPONENTS:
        if module == comp or module.startswith(comp + "."):
            if best is None or len(comp) > len(best):
                best = comp
    return best


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def imports() -> dict[str, set[tuple[str, str]]]:
    """component -> {(imported component, "file:line")}, for imports at any depth."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for top in ("hotline", "ami_bridge", "ivr", "recordings", "scheduler", "pbxsim"):
        for path in (REPO / top).rglob("*.py"):
            src = component_of(module_name(path))
            if src is None:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for name in names:
                    dst = component_of(name)
                    if dst is not None and dst != src:
                        found[src].add((dst, f"{path.relative_to(REPO)}:{node.lineno}"))
    return found


def test_lower_layers_never_import_higher_ones() -> None:
    bad = [
        f"{where}: {src} (layer {COMPONENTS[src]}) imports {dst} (layer {COMPONENTS[dst]})"
        for src, targets in imports().items()
        for dst, where in targets
        if COMPONENTS[dst] > COMPONENTS[src]
    ]
    assert not bad, "\n".join(sorted(bad))


def test_components_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for src, targets in imports().items():
        for dst, at in targets:
            graph[src].add(dst)
            where.setdefault((src, dst), at)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(COMPONENTS):
        if node not in state and (cycle := visit(node)):
            steps = [f"{a} -> {b} ({where[(a, b)]})" for a, b in zip(cycle, cycle[1:], strict=False)]
            raise AssertionError("import cycle:\n" + "\n".join(steps))
