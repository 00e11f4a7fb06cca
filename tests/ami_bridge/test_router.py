"""The router gives each call the longest-idle ready agent, never the same agent twice."""

from __future__ import annotations

import asyncio
import datetime as dt

from ami_bridge.agents import AgentBook, AgentInfo
from ami_bridge.router import Router
from hotline.domain.enums import AgentState, Role
from hotline.domain.events import CallOffered

T = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
SUPERVISORS = frozenset({Role.TEAM_LEADER, Role.SUPERVISOR})


def book(*agents: tuple[int, int, Role]) -> AgentBook:
    """Ready agents as (id, idle minutes, role)."""
    b = AgentBook()
    for agent_id, idle_minutes, role in agents:
        b.add(AgentInfo(agent_id, str(1000 + agent_id), f"PJSIP/{1000 + agent_id}", role=role),
              presence=AgentState.READY, idle_since=T - dt.timedelta(minutes=idle_minutes))
    return b


async def test_longest_idle_ready_agent_first_and_never_twice() -> None:
    b = book((1, 5, Role.AGENT), (2, 30, Role.AGENT), (3, 10, Role.AGENT))
    router = Router(b)
    offers = await asyncio.gather(*(router.acquire(f"pbx1:{n}") for n in range(4)))
    assert [o.agent_id if o else None for o in offers] == [2, 3, 1, None]
    assert offers[0].interface == "PJSIP/1002"
    router.close()


async def test_paused_busy_unregistered_and_excluded_agents_are_skipped() -> None:
    b = book((1, 50, Role.AGENT), (2, 40, Role.AGENT), (3, 30, Role.AGENT), (4, 20, Role.AGENT),
             (5, 10, Role.AGENT))
    b.set_presence(b.get(1), AgentState.PAUSED, T, "lunch")
    b.ringing(b.get(2), "leg-2", T)
    b.registration(b.get(3), False, T)
    router = Router(b)
    offer = await router.acquire("pbx1:1", exclude=frozenset({4}))
    assert offer is not None and offer.agent_id == 5
    router.close()


async def test_blacklisted_callers_go_to_team_leaders_and_supervisors_only() -> None:
    b = book((1, 60, Role.AGENT), (2, 5, Role.TEAM_LEADER), (3, 1, Role.SUPERVISOR))
    router = Router(b)
    first = await router.acquire("pbx1:1", roles=SUPERVISORS)
    second = await router.acquire("pbx1:2", roles=SUPERVISORS)
    third = await router.acquire("pbx1:3", roles=SUPERVISORS)
    assert (first.agent_id, second.agent_id, third) == (2, 3, None)
    router.close()


async def test_waiting_calls_get_freed_agents_in_arrival_order() -> None:
    b = book((1, 5, Role.AGENT))
    b.set_presence(b.get(1), AgentState.PAUSED, T, "meeting")
    b.add(AgentInfo(2, "1002", "PJSIP/1002"), presence=AgentState.PAUSED)
    router = Router(b)
    first = asyncio.ensure_future(router.acquire("pbx1:first", timeout=2))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(router.acquire("pbx1:second", timeout=2))
    await asyncio.sleep(0.01)
    assert router.waiting == 2

    change = b.set_presence(b.get(2), AgentState.READY, T)
    router.on_event(change)
    assert (await first).agent_id == 2
    assert not second.done()
    router.on_event(b.set_presence(b.get(1), AgentState.READY, T))
    assert (await second).agent_id == 1
    router.close()


async def test_nobody_free_within_the_timeout_gives_none() -> None:
    router = Router(book())
    assert await router.acquire("pbx1:1", timeout=0.05) is None
    assert router.waiting == 0


async def test_reservation_ends_when_the_phone_rings_when_released_or_when_it_expires() -> None:
    b = book((1, 5, Role.AGENT))
    router = Router(b, reservation_timeout=0.1)
    offer = await router.acquire("pbx1:1")
    assert router.reserved_for(1) == "pbx1:1"
    assert await router.acquire("pbx1:2") is None

    router.release(offer)
    again = await router.acquire("pbx1:2")
    assert again is not None and again.agent_id == 1

    # the IVR dialled it: the reservation is done, the phone's ringing keeps others away
    router.on_event(CallOffered(at=T, call_key="pbx1:2", agent_id=1, extension="1001",
                                channel="PJSIP/1001-00000001", uniqueid="2.1"))
    assert router.reserved_for(1) is None

    # reserved and never dialled: freed after reservation_timeout
    await router.acquire("pbx1:3")
    waiting = asyncio.ensure_future(router.acquire("pbx1:4", timeout=1))
    assert (await waiting).agent_id == 1
    router.close()


async def test_release_frees_an_agent_whose_phone_never_rang_and_nothing_else() -> None:
    """The IVR releases every offer when its Dial returns. A busy phone never rings, so its
    reservation must end there (not 10 s later); an offer whose phone did ring is over
    already, and releasing it must not take the agent from the call it now rings for."""
    b = book((1, 5, Role.AGENT))
    router = Router(b, reservation_timeout=10.0)
    busy = await router.acquire("pbx1:1")
    assert busy is not None and busy.call_key == "pbx1:1"
    waiting = asyncio.ensure_future(router.acquire("pbx1:2", timeout=5.0))
    await asyncio.sleep(0)
    router.release(busy)  # Dial said BUSY: the waiting call gets the agent at once
    second = await asyncio.wait_for(waiting, 1.0)
    assert second is not None and (second.agent_id, second.call_key) == (1, "pbx1:2")
    router.release(busy)  # late or repeated: the agent stays reserved for pbx1:2
    assert router.reserved_for(1) == "pbx1:2"
    b.ringing(b.get(1), "2.2", T)  # what the state machine does when the phone rings
    router.on_event(CallOffered(at=T, pbx="pbx1", call_key="pbx1:2", agent_id=1, extension="1001",
                                channel="PJSIP/1001-00000001", uniqueid="2.2"))
    assert router.reserved_for(1) is None
    router.release(second)  # after it rang: nothing to do
    assert await router.acquire("pbx1:3") is None  # (ringing now: not available)
    router.close()


async def test_an_originate_to_the_agent_ends_the_reservation_when_the_phone_rings() -> None:
    """The scheduler's agent-first calls ring the agent through an Originate: no CallOffered,
    only the agent's state. The reservation must not outlive the call (nor expire later with
    a warning while the agent is already free again)."""
    b = book((1, 5, Role.AGENT))
    router = Router(b, reservation_timeout=30)
    await router.acquire("task-7")
    assert router.reserved_for(1) == "task-7"
    router.on_event(b.ringing(b.get(1), "leg-1", T))
    assert router.reserved_for(1) is None
    b.talking(b.get(1), "leg-1", T)
    b.leg_gone(b.get(1), "leg-1", T, after_talk=False, wrap_up=False)
    # the customer was busy: the agent is ready again, and can take the next call at once
    again = await router.acquire("task-8")
    assert again is not None and again.agent_id == 1
    router.close()


async def test_a_dropped_call_callback_may_take_its_agent_from_wrap_up() -> None:
    b = book((1, 5, Role.AGENT), (2, 50, Role.AGENT))
    b.talking(b.get(1), "leg-1", T)
    b.leg_gone(b.get(1), "leg-1", T, after_talk=True)
    assert b.get(1).state is AgentState.WRAP_UP
    router = Router(b)
    others = frozenset({2})
    # an ordinary call never gets an agent in wrap-up...
    assert await router.acquire("pbx1:9", exclude=others) is None
    # ...the callback of the call that agent just lost does (rule 1.15: call back at once)
    offer = await router.acquire("task-1", exclude=others, wrap_up_ok=True)
    assert offer is not None and offer.agent_id == 1
    # a paused agent stays paused, callback or not
    router.release(offer)
    b.set_presence(b.get(1), AgentState.PAUSED, T, "lunch")
    assert await router.acquire("task-1", exclude=others, wrap_up_ok=True) is None
    router.close()
