"""Waiting for an agent (hold music, the "please wait" apology every interval, the callback
offer) and a caller hanging up anywhere in the flow: each ends the session cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hotline.domain.enums import Role
from ivr.flows.loader import FlowSet, LoadedFlow
from ivr.flows.schema import RouteNode
from ivr.service import IvrData
from tests.ivr.asterisk import ScriptedAsterisk
from tests.ivr.conftest import CALLER_E164, NATIONAL_DAY, StartIvr, frozen
from tests.ivr.fakes import FakeRouter, MemoryStore, Seat


def quick_hold(data: IvrData, *, every: float = 0.3, callback_after: float = 0.8) -> FlowSet:
    """The default flow with its waits shortened (30 s / 120 s in production)."""
    loaded = data.flows.flows["hotline"]
    node = loaded.flow.nodes["agents"]
    assert isinstance(node, RouteNode)
    nodes = {**loaded.flow.nodes, "agents": node.model_copy(update={"apology_every": every, "callback_after": callback_after})}
    flow = loaded.flow.model_copy(update={"nodes": nodes})
    return FlowSet({"hotline": LoadedFlow(flow, loaded.file)}, dict(data.flows.routes))


def starts(prefix: str) -> Callable[[str], bool]:
    return lambda line: line.startswith(prefix)


async def test_hold_apologises_every_interval_then_offers_a_callback(
    start_ivr: StartIvr, default_data: IvrData
) -> None:
    store = MemoryStore()
    server = await start_ivr(router=FakeRouter(), store=store, flows=quick_hold(default_data))
    # "1" in the menu, then "1" at the callback offer
    call = await ScriptedAsterisk(server.port, digits=["1", "1"]).run()

    played = call.played()
    assert played[:2] == ["greeting", "main_menu"]
    waits = [c for c in call.commands if "/please_wait" in c.line]
    offer = call.first("GET DATA " + str(server.app.services.sounds_dir / "zh-CN" / "callback_offer"))  # type: ignore[attr-defined]
    # an apology at once, then one every 0.3 s until the offer at 0.8 s
    assert len(waits) == 3
    gaps = [b.t - a.t for a, b in zip(waits, waits[1:], strict=False)]
    # never sooner than the interval; later only by the machine's scheduling delay
    assert all(0.28 < g < 0.3 + 0.25 for g in gaps), gaps
    assert 0.75 < offer.t - waits[0].t < 0.8 + 0.4
    # hold music between the prompts, switched off before each prompt
    assert call.lines()[call.index("STREAM FILE", "please_wait") + 1] == "SET MUSIC ON default"
    assert call.lines()[call.commands.index(offer) - 1] == "SET MUSIC OFF"
    # accepting the offer books the callback and ends the call politely
    assert played[-2:] == ["callback_confirm", "closing"]
    assert call.variables["HOTLINE_DISPOSITION"] == "callback_requested"
    [(_, request)] = store.callbacks.values()
    assert request.phone == CALLER_E164


async def test_declined_offer_keeps_waiting_and_an_agent_frees_up(
    start_ivr: StartIvr, default_data: IvrData
) -> None:
    router = FakeRouter()
    server = await start_ivr(router=router, flows=quick_hold(default_data, every=0.3, callback_after=0.5))
    call = ScriptedAsterisk(server.port, digits=["2", None], dials=["ANSWER"])
    added_at: list[float] = []

    async def agent_logs_in_later() -> None:
        await asyncio.sleep(1.05 + 0.9)  # ring 3, then ~0.9 s of waiting
        router.add(Seat(7, "1007"))
        added_at.append(asyncio.get_running_loop().time() - call.t0)

    freeing = asyncio.create_task(agent_logs_in_later())
    await call.run()
    await freeing

    assert "callback_offer" in call.played()
    assert call.index("GET DATA", "callback_offer") < call.index("EXEC Dial")
    dial = call.first("EXEC Dial")
    assert dial.line == "EXEC Dial PJSIP/1007,4"
    # dialled within moments of the agent becoming free, music off and recording on first
    assert dial.t - added_at[0] < 0.3
    before = call.lines()[: call.commands.index(dial)]
    assert before[-1].startswith("EXEC MixMonitor") and before[-2] == "SET MUSIC OFF"
    assert call.variables.get("HOTLINE_DISPOSITION") is None


async def test_anonymous_caller_is_not_offered_a_callback(start_ivr: StartIvr, default_data: IvrData) -> None:
    router = FakeRouter()
    server = await start_ivr(router=router, flows=quick_hold(default_data, every=0.2, callback_after=0.3))
    call = ScriptedAsterisk(server.port, callerid="anonymous", digits=["1"],
                            hang_up_after=(starts("SET MUSIC ON"), 0.7))
    await call.run()
    assert "callback_offer" not in call.played()
    assert call.played().count("please_wait") >= 3


async def test_blacklisted_caller_waits_for_a_leader_not_an_idle_agent(start_ivr: StartIvr, default_data: IvrData) -> None:
    router = FakeRouter([Seat(1, "1001", Role.AGENT)])
    store = MemoryStore(blacklist={CALLER_E164})
    server = await start_ivr(router=router, store=store, flows=quick_hold(default_data))

    async def leader_frees_up() -> None:
        await asyncio.sleep(1.05 + 0.5)
        router.add(Seat(9, "3001", Role.SUPERVISOR))

    freeing = asyncio.create_task(leader_frees_up())
    call = await ScriptedAsterisk(server.port, digits=["1"], dials=["ANSWER"]).run()
    await freeing
    assert [line for line in call.lines() if line.startswith("EXEC Dial")] == ["EXEC Dial PJSIP/3001,4"]
    assert router.seats["1001"].free


# -- hang-ups ---------------------------------------------------------------------------------

HANGUP_POINTS: dict[str, tuple[list[str | None], Callable[[str], bool]]] = {
    # where the caller hangs up: (what the caller keys, the command that returns -1)
    "at ANSWER": (["1"], starts("ANSWER")),
    "in the greeting": (["1"], lambda line: "/greeting" in line),
    "in the menu": (["1"], starts("GET DATA")),
    "in the invalid-choice prompt": (["9"], lambda line: "/menu_invalid" in line),
    "in the recording start": (["1"], starts("EXEC MixMonitor")),
    "while the agent rings": (["1"], starts("EXEC Dial")),
    "in the silence script": ([], lambda line: "/silence" in line),
    "in the callback confirmation": (["4"], lambda line: "/callback_confirm" in line),
}


@pytest.mark.parametrize("point", list(HANGUP_POINTS), ids=list(HANGUP_POINTS))
async def test_caller_hangs_up_in_any_node(start_ivr: StartIvr, point: str) -> None:
    digits, where = HANGUP_POINTS[point]
    router = FakeRouter([Seat(1, "1001")])
    server = await start_ivr(router=router)
    call = ScriptedAsterisk(server.port, digits=list(digits), hang_up_at=where)
    await call.run(timeout=8)

    assert call.closed_by_server
    # the -1 result came where the caller left ...
    hung = next(i for i, (_, reply) in enumerate(call.replies) if reply == "200 result=-1")
    assert where(call.lines()[hung])
    # ... after it the IVR sends nothing but a GET VARIABLE (allowed on a dead channel), and
    # closes the connection within moments (the HANGUP notice follows the -1 by 44 ms)
    after = call.lines()[hung + 1:]
    assert all(line.startswith("GET VARIABLE") for line in after), after
    assert call.closed_at is not None
    assert call.closed_at - call.replies[hung][0] < 1.0
    assert server.stats.crashes == 0 and server.stats.command_errors == 0


async def test_caller_hangs_up_while_ringing(start_ivr: StartIvr) -> None:
    server = await start_ivr()
    call = ScriptedAsterisk(server.port, hang_up_after=(starts("EXEC Ringing"), 0.3))
    await call.run(timeout=8)
    # the IVR was waiting for ring 3 (1.05 s); it stops at the notice and never answers
    assert call.lines() == ["EXEC Ringing"]
    assert call.notice_at is not None and call.closed_at is not None
    assert call.closed_at - call.notice_at < 0.5  # not at ring 3, 0.75 s later
    assert server.stats.crashes == 0


async def test_caller_hangs_up_on_hold(start_ivr: StartIvr, default_data: IvrData) -> None:
    router = FakeRouter()
    server = await start_ivr(router=router, flows=quick_hold(default_data, every=5, callback_after=10))
    call = ScriptedAsterisk(server.port, digits=["1"], hang_up_after=(starts("SET MUSIC ON"), 0.2))
    await call.run(timeout=8)

    assert call.lines()[-1] == "SET MUSIC ON default"
    # the bridge was told the caller waits for an agent (no phone rang: without this the call
    # would count as served by the IVR, not as abandoned)
    assert call.variables["HOTLINE_QUEUE"] == "hotline"
    assert call.index("SET VARIABLE HOTLINE_QUEUE") < call.index("SET MUSIC ON")
    # noticed at once, not at the next apology 5 s later
    assert call.notice_at is not None and call.closed_at is not None
    assert call.closed_at - call.notice_at < 1.0
    assert server.stats.crashes == 0
    # the request for an agent was withdrawn, nobody was reserved for the gone caller
    assert [c.result for c in router.calls] == [None, None]
    router.add(Seat(1, "1001"))
    assert router.seats["1001"].free


async def test_hangup_notice_between_command_and_reply(start_ivr: StartIvr) -> None:
    """Capture 14: the caller hangs up during the agent conversation; Dial returns -1 and the
    HANGUP notice arrives between GET VARIABLE DIALSTATUS and its reply."""
    server = await start_ivr(router=FakeRouter([Seat(1, "1001")]))
    call = ScriptedAsterisk(server.port, digits=["1"], dials=["ANSWER"], notice_before_reply=starts("GET VARIABLE DIALSTATUS"))
    await call.run()
    assert call.lines()[-1] == "GET VARIABLE DIALSTATUS"
    assert call.replies[-1][1] == "200 result=1 (ANSWER)"
    assert server.stats.crashes == 0 and server.stats.command_errors == 0


async def test_after_hours_offer_hang_up(start_ivr: StartIvr) -> None:
    store = MemoryStore()
    server = await start_ivr(store=store, clock=frozen(NATIONAL_DAY))
    call = await ScriptedAsterisk(server.port, hang_up_at=lambda line: "/after_hours_callback_offer" in line).run()
    assert call.closed_by_server
    assert store.callbacks == {}
    assert "closing" not in call.played()
