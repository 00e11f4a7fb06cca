"""The hotline's default flow (callflows/hotline.yaml) as a caller lives it, over FastAGI with
Asterisk's replies from the captures and ring time compressed to P = 0.5 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.domain.enums import Role
from hotline.domain.ring import RingPolicy
from hotline.domain.spool import SpoolName, parse_spool_file_name
from hotline.settings import Settings
from tests.ivr.asterisk import ScriptedAsterisk
from tests.ivr.conftest import (
    CALLER_E164,
    NATIONAL_DAY,
    ORDINARY_SUNDAY,
    WEEKDAY_MORNING,
    WORKING_SATURDAY,
    StartIvr,
    frozen,
)
from tests.ivr.fakes import FakeRouter, MemoryStore, Seat

RING = RingPolicy(on_seconds=0.1, off_seconds=0.4)


def agents(*extensions: str, role: Role = Role.AGENT) -> FakeRouter:
    router = FakeRouter()
    for i, ext in enumerate(extensions, start=1):
        router.add(Seat(i, ext, role))
    return router


async def test_answer_at_ring_3_then_greeting_first(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=agents("1001"))
    call = await ScriptedAsterisk(server.port, digits=["1"], dials=["ANSWER"]).run()

    verbs = call.verbs()
    assert verbs[0] == "EXEC Ringing"
    assert verbs[1] == "ANSWER"
    # ringing starts when EXEC Ringing returns; ANSWER comes in ring 3, half way into its burst
    waited = call.first("ANSWER").t - call.reply_time("EXEC Ringing")
    assert RING.ring_at(waited) == 3
    # never before half way into the burst; how much after depends on the machine's load
    assert waited >= RING.answer_delay() - 0.01
    # the greeting is the first thing the caller hears after the answer
    after_answer = call.commands[call.index("ANSWER") + 1:]
    first_sound = next(c for c in after_answer if c.line.startswith(("STREAM FILE", "GET DATA")))
    assert first_sound.line.split()[2].endswith("/zh-CN/greeting")
    assert call.played()[:2] == ["greeting", "main_menu"]


def spool_file(line: str) -> Path:
    """The file of an ``EXEC MixMonitor <file>[,<options>]`` line."""
    return Path(line.split(maxsplit=2)[2].split(",", 1)[0])


async def test_menu_choice_sets_category_and_dials_an_agent(
    start_ivr: StartIvr, settings: Settings
) -> None:
    router = agents("1001")
    server = await start_ivr(router=router)
    call = await ScriptedAsterisk(server.port, digits=["2"], dials=["ANSWER"]).run()

    assert call.variables["HOTLINE_CATEGORY"] == "complaint"
    # the bridged part is recorded into the spool, then the agent is dialled for 5P+1 s
    mix = call.first("EXEC MixMonitor")
    assert mix.line.endswith(".wav,b")
    # named so that the recordings service knows the call from the name alone
    path = spool_file(mix.line)
    assert path.parent == settings.recordings.spool_dir.resolve()
    assert parse_spool_file_name(path.name) == SpoolName("pbx1", "1795390124.68", "1795390124.68")
    assert call.first("EXEC Dial").line == "EXEC Dial PJSIP/1001,4"
    assert call.index("EXEC MixMonitor") < call.index("EXEC Dial")
    assert call.index("SET VARIABLE HOTLINE_CATEGORY") < call.index("EXEC Dial")
    # after the conversation the IVR hangs up and closes, as in capture 03
    assert call.lines()[-2:] == ["GET VARIABLE DIALSTATUS", "HANGUP"]
    assert call.closed_by_server
    assert router.calls[0].call_key == "pbx1:1795390124.68"
    assert router.calls[0].roles is None


@pytest.mark.parametrize(("digit", "category"), [("1", "inquiry"), ("2", "complaint"), ("3", "repair")])
async def test_each_menu_option_gives_its_category(start_ivr: StartIvr, digit: str, category: str) -> None:
    server = await start_ivr(router=agents("1001"))
    call = await ScriptedAsterisk(server.port, digits=[digit], dials=["ANSWER"]).run()
    assert call.variables["HOTLINE_CATEGORY"] == category


async def test_no_answer_goes_to_the_next_agent_at_once(start_ivr: StartIvr) -> None:
    router = agents("1001", "1002")
    server = await start_ivr(router=router)
    call = await ScriptedAsterisk(server.port, digits=["1"], dials=["NOANSWER", "ANSWER"]).run()

    dials = [c for c in call.commands if c.line.startswith("EXEC Dial")]
    assert [d.line for d in dials] == ["EXEC Dial PJSIP/1001,4", "EXEC Dial PJSIP/1002,4"]
    # the second agent is asked for as soon as the first Dial returned NOANSWER
    first_dial_end = call.replies[call.index("EXEC Dial")][0]
    assert dials[1].t - first_dial_end < 0.5  # not a ring period (0.5 s) later
    assert router.calls[1].exclude == frozenset({1})
    # the bridged recording starts once, before the first dial
    assert sum(line.startswith("EXEC MixMonitor") for line in call.lines()) == 1
    assert "SET MUSIC ON default" not in call.lines()


async def test_invalid_digits_replay_the_menu_then_go_to_an_agent(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=agents("1001"))
    call = await ScriptedAsterisk(server.port, digits=["9", "*", "7"], dials=["ANSWER"]).run()

    assert call.played()[:6] == [
        "greeting", "main_menu", "menu_invalid", "main_menu", "menu_invalid", "main_menu"
    ]
    assert call.variables["HOTLINE_CATEGORY"] == "other"
    assert "EXEC Dial PJSIP/1001,4" in call.lines()


async def test_timeout_then_valid_choice_follows_the_flow(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=agents("1001"))
    call = await ScriptedAsterisk(server.port, digits=[None, "3"], dials=["ANSWER"]).run()
    assert call.played()[:3] == ["greeting", "main_menu", "main_menu"]
    assert call.variables["HOTLINE_CATEGORY"] == "repair"
    # GET DATA waits the flow's 5 s timeout for one digit
    assert call.first("GET DATA").line.endswith(" 5000 1")


async def test_silence_plays_the_silence_script_and_hangs_up(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=agents("1001"))
    call = await ScriptedAsterisk(server.port, digits=[None, None, None]).run()

    assert call.played() == ["greeting", "main_menu", "main_menu", "main_menu", "silence"]
    assert call.variables["HOTLINE_DISPOSITION"] == "silent"
    # disposition first (so the bridge has it even if the caller leaves during S2), then S2,
    # then the hang-up
    assert call.index("SET VARIABLE HOTLINE_DISPOSITION") < call.index("STREAM FILE", "silence")
    assert call.lines()[-1] == "HANGUP"
    assert not any(line.startswith("EXEC Dial") for line in call.lines())


async def test_invalid_input_is_not_silence(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=agents("1001"))
    call = await ScriptedAsterisk(server.port, digits=[None, "8", None], dials=["ANSWER"]).run()
    assert "silence" not in call.played()
    assert call.variables.get("HOTLINE_DISPOSITION") is None
    assert call.variables["HOTLINE_CATEGORY"] == "other"


@pytest.mark.parametrize(
    "moment", [NATIONAL_DAY, ORDINARY_SUNDAY, WORKING_SATURDAY.replace(hour=21)],
    ids=["national-day", "ordinary-sunday", "working-saturday-evening"],
)
async def test_outside_hours_notice_and_callback_offer(start_ivr: StartIvr, moment) -> None:  # type: ignore[no-untyped-def]
    store = MemoryStore()
    server = await start_ivr(router=agents("1001"), store=store, clock=frozen(moment))
    call = await ScriptedAsterisk(server.port, digits=[None]).run()

    assert call.played() == ["greeting", "hours_notice", "after_hours_callback_offer", "closing"]
    assert call.variables["HOTLINE_DISPOSITION"] == "ivr_only"
    assert not any(line.startswith(("EXEC Dial", "EXEC MixMonitor")) for line in call.lines())
    assert store.callbacks == {}


async def test_adjusted_working_saturday_is_open(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=agents("1001"), clock=frozen(WORKING_SATURDAY))
    call = await ScriptedAsterisk(server.port, digits=["1"], dials=["ANSWER"]).run()
    assert call.played()[:2] == ["greeting", "main_menu"]
    assert "hours_notice" not in call.played()


async def test_rest_period_is_closed_by_default(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=agents("1001"), clock=frozen(WEEKDAY_MORNING.replace(hour=12, minute=30)))
    call = await ScriptedAsterisk(server.port, digits=[None]).run()
    assert call.played()[1] == "hours_notice"


async def test_holiday_callback_is_due_after_the_golden_week(start_ivr: StartIvr) -> None:
    store = MemoryStore()
    server = await start_ivr(router=agents("1001"), store=store, clock=frozen(NATIONAL_DAY))
    call = await ScriptedAsterisk(server.port, digits=["1"]).run()

    assert call.played() == ["greeting", "hours_notice", "after_hours_callback_offer", "callback_confirm", "closing"]
    assert call.variables["HOTLINE_DISPOSITION"] == "callback_requested"
    [(task_id, request)] = store.callbacks.values()
    assert request.phone == CALLER_E164
    # asked on the holiday, by the IVR's clock; the store makes it due after the Golden Week
    # (tests/ivr/test_store.py)
    assert request.asked_at == NATIONAL_DAY


async def test_menu_callback_request_creates_a_task(start_ivr: StartIvr) -> None:
    store = MemoryStore()
    server = await start_ivr(router=agents("1001"), store=store)
    call = await ScriptedAsterisk(server.port, digits=["4"]).run()
    assert call.played() == ["greeting", "main_menu", "callback_confirm", "closing"]
    assert call.variables["HOTLINE_DISPOSITION"] == "callback_requested"
    [(_, request)] = store.callbacks.values()
    assert request.asked_at == WEEKDAY_MORNING
    assert request.call_key == "pbx1:1795390124.68"


async def test_callback_without_caller_number_goes_to_an_agent(start_ivr: StartIvr) -> None:
    store = MemoryStore()
    server = await start_ivr(router=agents("1001"), store=store)
    call = await ScriptedAsterisk(server.port, callerid="anonymous", digits=["4"], dials=["ANSWER"]).run()
    assert call.played()[:3] == ["greeting", "main_menu", "callback_unavailable"]
    assert "EXEC Dial PJSIP/1001,4" in call.lines()
    assert store.callbacks == {}


async def test_blacklisted_caller_recorded_from_the_start_and_only_leaders(start_ivr: StartIvr) -> None:
    router = FakeRouter()
    router.add(Seat(1, "1001", Role.AGENT))
    router.add(Seat(2, "1002", Role.AGENT))
    router.add(Seat(3, "2001", Role.TEAM_LEADER))
    store = MemoryStore(blacklist={CALLER_E164})
    server = await start_ivr(router=router, store=store)
    call = await ScriptedAsterisk(server.port, digits=["2"], dials=["ANSWER"]).run()

    # MixMonitor of the whole call (no b option) is the very next command after ANSWER
    answer = call.index("ANSWER")
    assert call.commands[answer + 1].line.startswith("EXEC MixMonitor")
    whole = parse_spool_file_name(spool_file(call.commands[answer + 1].line).name)
    assert whole == SpoolName("pbx1", "1795390124.68", "1795390124.68", whole_call=True)
    assert call.variables["HOTLINE_BLACKLISTED"] == "1"
    # the greeting is still the first prompt
    assert call.played()[0] == "greeting"
    # offered to the team leader only, although ordinary agents were idle longer
    assert router.calls[0].roles == frozenset({Role.TEAM_LEADER, Role.SUPERVISOR})
    assert [line for line in call.lines() if line.startswith("EXEC Dial")] == ["EXEC Dial PJSIP/2001,4"]
    # no second (bridged) recording on top of the whole-call one
    assert sum(line.startswith("EXEC MixMonitor") for line in call.lines()) == 1


async def test_ordinary_caller_is_not_recorded_before_routing(start_ivr: StartIvr) -> None:
    store = MemoryStore(blacklist={"+8613900000000"})
    server = await start_ivr(router=agents("1001"), store=store)
    call = await ScriptedAsterisk(server.port, digits=["1"], dials=["ANSWER"]).run()
    assert call.commands[call.index("ANSWER") + 1].line.startswith("STREAM FILE")
    assert "HOTLINE_BLACKLISTED" not in call.variables
    assert store.lookups == [CALLER_E164]


async def test_english_prompts_by_query(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=agents("1001"))
    call = await ScriptedAsterisk(server.port, script="inbound?lang=en", digits=["1"], dials=["ANSWER"]).run()
    assert "/en/greeting" in call.first("STREAM FILE").line


async def test_customer_first_outbound_call_connects_to_an_agent(start_ivr: StartIvr) -> None:
    """callflows/outbound.yaml: the scheduler's call is answered already; no ringing, no
    answer, no inbound greeting: the connecting prompt, then the next free agent."""
    server = await start_ivr(router=agents("1001"))
    call = await ScriptedAsterisk(server.port, script="outbound", dials=["ANSWER"]).run()
    assert call.verbs()[0] == "STREAM FILE"
    assert "EXEC Ringing" not in call.verbs() and "ANSWER" not in call.verbs()
    assert call.played() == ["outbound_connecting"]
    assert call.first("EXEC Dial").line == "EXEC Dial PJSIP/1001,4"
