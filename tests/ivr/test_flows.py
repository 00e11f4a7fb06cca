"""Flows as data: a bad flow is refused with FILE:LINE: REASON, at start-up and by
``hotline flows check``; the repository's flows pass; any flow may use every script."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hotline.domain.ring import RingPolicy
from hotline.settings import Settings
from ivr.flows.loader import discover, load_flow_file, load_flows
from ivr.prompts.catalogue import Catalogue
from ivr.service import build_ivr
from ivr.yamldoc import InvalidFileError
from tests.ivr.conftest import REPO, ivr_settings
from tests.ivr.fakes import FakeRouter

HOTLINE = Path(sys.executable).with_name("hotline")

GOOD = """\
name: t
routes: [inbound]
start: ring
nodes:
  ring:
    kind: answer
    next: greet
  greet:
    kind: play
    prompt: greeting
    next: menu
  menu:
    kind: menu
    prompt: main_menu
    options:
      "1": agents
      "2": bye
    on_invalid: agents
    on_no_input: bye
  agents:
    kind: route
  bye:
    kind: hangup
    prompt: closing
"""


def refuse(tmp_path: Path, catalogue: Catalogue, text: str) -> list[str]:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(InvalidFileError) as info:
        load_flow_file(path, prompt_exists=catalogue.__contains__, ring=RingPolicy(), display="flow.yaml")
    return [str(p) for p in info.value.problems]


def test_good_flow_loads(tmp_path: Path, catalogue: Catalogue) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(GOOD)
    flow = load_flow_file(path, prompt_exists=catalogue.__contains__, ring=RingPolicy())
    assert flow.routes == ("inbound",)
    assert flow.nodes["menu"].options == {"1": "agents", "2": "bye"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # unknown node, with a hint
        (("next: menu", "next: mneu"), "flow.yaml:11: node 'greet': next goes to unknown node 'mneu' (did you mean 'menu'?)"),
        # missing prompt
        (("prompt: closing", "prompt: closng"), "flow.yaml:24: node 'bye': prompt 'closng' is not in the prompt catalogue"),
        # bad digit
        (('"2": bye', '"x": bye'), "flow.yaml:17: node 'menu': options.x: option 'x' is not DTMF digits (0-9, * or #; quote '*' and '#')"),
        # a multi-digit option the menu cannot collect
        (('"2": bye', '"22": bye'), "flow.yaml:17: node 'menu': option '22' has 2 digits but max_digits is 1"),
        # unknown key
        (("    on_no_input: bye", "    on_no_input: bye\n    colour: red"), "flow.yaml:20: node 'menu': unknown key 'colour'"),
        # unknown node kind
        (("kind: route", "kind: queue"), "flow.yaml:21: node 'agents': unknown kind 'queue'"),
        # missing field
        (("    on_invalid: agents\n", ""), "flow.yaml:12: node 'menu': missing 'on_invalid'"),
        # bad value
        (("    on_no_input: bye", "    on_no_input: bye\n    timeout: 0"), "flow.yaml:20: node 'menu': timeout: Input should be greater than 0 (got 0)"),
        # ring outside the answer window of rule 1.1
        (("kind: answer", "kind: answer\n    ring: 1"), "flow.yaml:7: node 'ring': ring 1 is outside the answer window (ring 3 to 5, rule 1.1)"),
        # start node missing
        (("start: ring", "start: begin"), "flow.yaml:3: start node 'begin' is not defined"),
        # not YAML
        (("kind: route", "kind: [route"), "flow.yaml:22: not valid YAML"),
        # duplicate key
        (("  bye:\n", "  greet:\n    kind: goto\n    next: bye\n  bye:\n"), "flow.yaml:22: duplicate key 'greet' (first at line 8)"),
    ],
    ids=["unknown-node", "missing-prompt", "bad-digit", "too-many-digits", "unknown-key", "unknown-kind",
         "missing-field", "bad-value", "ring-window", "no-start", "not-yaml", "duplicate-key"],
)
def test_bad_flow_is_refused_with_file_line_reason(
    tmp_path: Path, catalogue: Catalogue, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    problems = refuse(tmp_path, catalogue, GOOD.replace(old, new, 1))
    assert any(p.startswith(expected) for p in problems), problems


def test_unreachable_node(tmp_path: Path, catalogue: Catalogue) -> None:
    problems = refuse(tmp_path, catalogue, GOOD + "  spare:\n    kind: goto\n    next: bye\n")
    assert problems == ["flow.yaml:25: node 'spare' is unreachable from start 'ring'"]


def test_loop_without_exit(tmp_path: Path, catalogue: Catalogue) -> None:
    text = GOOD.replace('"2": bye', '"2": menu').replace("on_no_input: bye", "on_no_input: menu")
    text = text.replace("  agents:\n    kind: route\n", "  agents:\n    kind: route\n    next: menu\n")
    problems = refuse(tmp_path, catalogue, text)
    assert problems == [
        "flow.yaml:12: loop without exit: the call can never end once in it (menu -> agents -> menu)",
        "flow.yaml:23: node 'bye' is unreachable from start 'ring'",
    ]


def test_loop_that_never_waits_for_the_caller(tmp_path: Path, catalogue: Catalogue) -> None:
    text = GOOD.replace('"2": bye', '"2": check') + textwrap.dedent("""\
      check:
        kind: hours
        open: sorry
        closed: bye
      sorry:
        kind: play
        prompt: please_wait
        next: check
    """).replace("\n", "\n  ").rstrip() .join(["  ", "\n"])
    problems = refuse(tmp_path, catalogue, text)
    assert problems == [
        "flow.yaml:25: loop without exit: it never waits for the caller, so it would repeat "
        "forever (check -> sorry -> check)"
    ]


def test_sound_before_answer_is_refused(tmp_path: Path, catalogue: Catalogue) -> None:
    text = GOOD.replace("start: ring", "start: greet").replace("next: greet", "next: bye")
    problems = refuse(tmp_path, catalogue, text)
    assert "flow.yaml:8: node 'greet' plays sound before the call is answered: put an answer node first" in problems


def test_greeting_must_come_first(tmp_path: Path, catalogue: Catalogue) -> None:
    text = GOOD.replace("    next: greet\n", "    next: menu\n", 1)
    problems = refuse(tmp_path, catalogue, text)
    assert (
        "flow.yaml:12: node 'menu' plays 'main_menu' before the greeting 'greeting': the greeting "
        "must be the first prompt of every answered call (rule 1.2)"
    ) in problems


def test_every_problem_of_every_file_is_reported(tmp_path: Path, catalogue: Catalogue) -> None:
    one = tmp_path / "one.yaml"
    two = tmp_path / "two.yaml"
    one.write_text(GOOD.replace("next: menu", "next: nowhere"))
    two.write_text(GOOD.replace("name: t", "name: u").replace("prompt: closing", "prompt: nope"))
    with pytest.raises(InvalidFileError) as info:
        load_flows([one, two], prompt_exists=catalogue.__contains__)
    files = {p.file for p in info.value.problems}
    assert files == {str(one), str(two)}


def test_two_flows_cannot_serve_one_route(tmp_path: Path, catalogue: Catalogue) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("name: t", "name: other"))
    with pytest.raises(InvalidFileError) as info:
        load_flows([tmp_path / "a.yaml", tmp_path / "b.yaml"], prompt_exists=catalogue.__contains__)
    assert str(info.value).endswith(f"b.yaml:2: route 'inbound' is already served by {tmp_path / 'a.yaml'}")


def test_any_flow_can_use_every_prompt(tmp_path: Path, catalogue: Catalogue) -> None:
    names = catalogue.names()
    text = GOOD.replace("prompt: greeting", "prompt: [greeting, " + ", ".join(n for n in names if n != "greeting") + "]")
    path = tmp_path / "all.yaml"
    path.write_text(text)
    flow = load_flow_file(path, prompt_exists=catalogue.__contains__, ring=RingPolicy())
    assert set(flow.nodes["greet"].prompt) == set(names)  # type: ignore[union-attr]
    assert {catalogue.prompts[n].script for n in names} >= {f"S{i}" for i in range(1, 17)}


def test_repository_flows_pass(catalogue: Catalogue) -> None:
    paths = discover([REPO / "callflows"], exclude=[REPO / "callflows" / "prompts.yaml"])
    flows = load_flows(paths, prompt_exists=catalogue.__contains__, ring=RingPolicy())
    assert flows.by_route("inbound") is flows.by_name("hotline") is not None


def test_ivr_refuses_to_start_with_a_bad_flow(tmp_path: Path) -> None:
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / "hotline.yaml").write_text(GOOD.replace("next: menu", "next: nowhere"))
    settings: Settings = ivr_settings(tmp_path, flows_dir=flows_dir)
    with pytest.raises(InvalidFileError) as info:
        build_ivr(settings, router=FakeRouter(), store=None)
    assert "hotline.yaml:11: node 'greet': next goes to unknown node 'nowhere'" in str(info.value)


# -- the command -----------------------------------------------------------------------------------

def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_IVR__PROMPTS_FILE"] = str(REPO / "callflows" / "prompts.yaml")
    env["HOTLINE_IVR__FLOWS_DIR"] = str(REPO / "callflows")
    return subprocess.run([str(HOTLINE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_flows_check_command(tmp_path: Path) -> None:
    ok = _run(["flows", "check"], tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "flow 'hotline'" in ok.stdout and "routes: inbound" in ok.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace('"2": bye', '"a": bye').replace("prompt: closing", "prompt: closng"))
    failed = _run(["flows", "check", "bad.yaml"], tmp_path)
    assert failed.returncode == 1
    assert failed.stdout.splitlines() == [
        "bad.yaml:17: node 'menu': options.a: option 'a' is not DTMF digits (0-9, * or #; quote '*' and '#')"
    ]
    assert "1 problem(s) in 1 file(s)" in failed.stderr

    missing = _run(["flows", "check", "nope.yaml"], tmp_path)
    assert missing.returncode == 1 and "nope.yaml: no such file or folder" in missing.stderr


def test_answered_flow_may_not_answer_again(tmp_path: Path, catalogue: Catalogue) -> None:
    text = GOOD.replace("start: ring", "answered: true\ngreeting: null\nstart: ring")
    problems = refuse(tmp_path, catalogue, text)
    assert problems == ["flow.yaml:7: node 'ring' answers a call that is already answered"]


def test_serve_refuses_to_start_with_a_bad_flow(tmp_path: Path) -> None:
    """``hotline serve`` checks the flows before touching anything: problems as FILE:LINE:
    REASON, exit status 1, no database created, no port opened."""
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / "hotline.yaml").write_text(GOOD.replace("next: menu", "next: nowhere"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_IVR__PROMPTS_FILE": str(REPO / "callflows" / "prompts.yaml"),
        "HOTLINE_IVR__FLOWS_DIR": str(flows_dir),
        "HOTLINE_DATABASE__URL": f"sqlite:///{tmp_path / 'hotline.db'}",
    })
    run = subprocess.run([str(HOTLINE), "serve"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stderr.splitlines()
    assert "flows/hotline.yaml:11: node 'greet': next goes to unknown node 'nowhere'" in lines
    assert "not started: 1 problem(s) in 1 call flow or prompt file(s)" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "hotline.db").exists()
