"""extensions.conf as the simulator reads it (pyst2's parser) and the expressions it evaluates."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbxsim.config import REPO
from pbxsim.dialplan.expr import evaluate, split_args, substitute
from pbxsim.dialplan.loader import load_dialplan, load_dialplan_text
from pbxsim.dialplan.model import DialplanError


def test_deploy_dialplan_loads_with_its_contexts_and_patterns() -> None:
    plan = load_dialplan(REPO / "deploy" / "asterisk" / "extensions.conf")
    assert {"hotline-inbound", "hotline-outbound", "hotline-outbound-ivr", "hotline-agents"} <= set(plan.contexts)
    assert plan.globals["HOTLINE_AGI"] == "agi://127.0.0.1:4573"
    inbound = plan.find("hotline-inbound", "4008001234")
    assert inbound is not None and inbound.pattern == "_X."
    assert [(s.priority, s.app) for s in inbound.steps.values()] == [
        (1, "NoOp"), (2, "Set"), (3, "Set"), (4, "AGI"), (5, "GotoIf"), (6, "Set"), (7, "Wait"),
        (8, "Goto"), (9, "Hangup")]
    assert plan.step("hotline-inbound", "4008001234", 4).args == "${HOTLINE_AGI}/inbound"  # type: ignore[union-attr]
    assert inbound.labels == {"ivr": 4, "done": 9}
    assert plan.find("hotline-agents", "1001") is not None
    assert plan.find("hotline-agents", "10011") is None and plan.find("hotline-agents", "2001") is None
    assert plan.find("hotline-outbound-ivr", "s") is not None


def test_exact_extensions_win_over_patterns_and_labels_resolve() -> None:
    plan = load_dialplan_text("""
[c]
exten => _X.,1,NoOp(any)
exten => _1XXX,1,NoOp(agent)
exten => 1001,1,NoOp(exact)
 same => n(done),Hangup()
""")
    assert plan.step("c", "1001", 1).args == "exact"  # type: ignore[union-attr]
    assert plan.step("c", "1002", 1).args == "agent"  # type: ignore[union-attr]
    assert plan.step("c", "55", 1).args == "any"  # type: ignore[union-attr]
    assert plan.find("c", "1001").labels == {"done": 2}  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "message"), [
    ("[c]\nsame => n,NoOp()\n", "<dialplan>:2: 'same =>' before any 'exten =>' in [c]"),
    ("[c]\nexten => s,x,NoOp()\n", "<dialplan>:2: bad priority 'x'"),
    ("[c]\nexten => s,1,NoOp(a\n", "<dialplan>:2: unbalanced parentheses"),
    ("#include other.conf\n", "<dialplan>:1: #include is not supported"),
    ("[c]\nthis is not an item\n", "<dialplan>:2: Item must be in name = value pairs"),
])
def test_bad_dialplan_lines_are_named_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(DialplanError) as err:
        load_dialplan_text(text)
    assert message in str(err.value)


def test_escaped_semicolon_is_a_literal_semicolon_in_application_data() -> None:
    # Asterisk reads "\;" as ";" (the auto-answer pre-dial handler's SIP headers need it);
    # pyst2 would cut the line there, so the loader protects it.
    plan = load_dialplan_text(
        "[c]\nexten => s,1,Set(PJSIP_HEADER(add,Call-Info)=<sip:h>\\;answer-after=0) ; a comment\n"
    )
    assert plan.step("c", "s", 1).args == "PJSIP_HEADER(add,Call-Info)=<sip:h>;answer-after=0"  # type: ignore[union-attr]


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DialplanError, match="nope.conf: dialplan file not found"):
        load_dialplan(tmp_path / "nope.conf")


def test_expressions() -> None:
    assert evaluate("1 + 2") == "3"
    assert evaluate('"${X}" = ""'.replace("${X}", "")) == "1"
    assert evaluate("5 > 3 & 2 > 1") == "1"
    assert evaluate("202 = 201") == "0"
    assert evaluate("(2 + 3) * 4") == "20"
    assert substitute("${IF($[1 = 1]?yes:no)}", None) == "yes"
    assert substitute("${LEN(abcd)}", None) == "4"
    assert substitute("$[${LEN(ab)} + 1]", None) == "3"
    assert split_args('Local/202@agents,30,"a,b",f(x,y)') == ["Local/202@agents", "30", '"a,b"', "f(x,y)"]


async def test_channel_variables_and_builtins_in_substitution(tmp_path: Path) -> None:
    from pbxsim.behaviours import CallerBehaviour, CallerSpec
    from pbxsim.config import SimConfig
    from tests.pbxsim.helpers import running

    plan = """
[general]
[globals]
GREETING = welcome
[hotline-inbound]
exten => _X.,1,Set(__HOTLINE_CALL_ID=${UNIQUEID})
 same => n,Set(SHORT=${EXTEN:0:3}-${CALLERID(num):-4})
 same => n,Set(G=${GREETING})
 same => n,Hangup()
"""
    async with running(SimConfig(ami_port=0, speed=20, dialplan_text=plan, record_dir=tmp_path)) as sim:
        events = sim.record_events()
        call = await sim.place_call(CallerSpec("13812345678", "4008001234", CallerBehaviour()))
        await call.ended
    values = {dict(h)["Variable"]: dict(h)["Value"] for name, h in events if name == "VarSet"}
    assert values["__HOTLINE_CALL_ID"] == call.channel.uniqueid
    assert values["SHORT"] == "400-5678"
    assert values["G"] == "welcome"
