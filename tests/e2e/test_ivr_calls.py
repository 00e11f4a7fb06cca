"""The IVR end to end: callers dial the hotline number on pbxsim, the default flow
(callflows/hotline.yaml) runs on hotline's FastAGI server with the bridge's real router, and
what the IVR decided reaches the database through the bridge (VarSet), as in production.

Each test places its callers at once on one stack, so the slowest caller sets its length (the
silent caller: three 5 s menu timeouts, real seconds as in production). Ring time is
compressed (P = 0.5 s); callers' own times (think time, hang-up after answer) are simulated
seconds, divided by SPEED.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from hotline.db.models import Call, CallFlag, OutboundTask, Recording
from hotline.db.session import session_factory
from hotline.domain.enums import CallingWindow, TaskStatus, TaskType
from hotline.domain.spool import parse_spool_file_name
from pbxsim import AgentBehaviour, CallerBehaviour, CallerSpec
from tests.e2e.stack import HOTLINE_NUMBER, Stack, add_blacklisted, clock_from, running_stack, utc

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The hotline's real hours and calendar, for the tests about them (the harness is open always).
REAL_HOURS = {"open": "08:00", "close": "20:00", "rest_start": "12:00", "rest_end": "14:00",
              "calendar": "CN"}


def e164(number: str) -> str:
    return f"+86{number}"


def prompts(truth: dict[str, Any]) -> list[str]:
    """What the caller heard, by prompt name."""
    return [Path(p).name for p in truth["prompts"]]


def assert_answered_by_the_rules(truth: dict[str, Any]) -> None:
    """Rule 1.1 and 1.2: answered at ring 3 of the cadence, the greeting before anything."""
    assert truth["answered_at_ring"] == 3, truth
    assert prompts(truth)[0] == "greeting", truth["prompts"]


async def place_all(stack: Stack, callers: dict[str, CallerBehaviour],
                    stagger: float = 0.0) -> dict[str, dict[str, Any]]:
    """Place every caller (number -> behaviour), ``stagger`` real seconds apart; the truth
    record of each once every call is over and the bridge has written what it saw."""
    handles = {}
    for number, behaviour in callers.items():
        handles[number] = await stack.sim.place_call(
            CallerSpec(number=number, dnid=HOTLINE_NUMBER, behaviour=behaviour))
        await asyncio.sleep(stagger)
    truths = {number: await asyncio.wait_for(h.ended, 60) for number, h in handles.items()}
    await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
    return truths


def stored_calls(engine: Engine) -> dict[str, Call]:
    with session_factory(engine)() as s:
        return {c.caller_number or "": c for c in s.scalars(select(Call))}


def stored_tasks(engine: Engine) -> list[OutboundTask]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(OutboundTask).order_by(OutboundTask.id)))


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info]


async def test_menu_choices_invalid_digits_and_callback_reach_the_database(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agents = {ext: AgentBehaviour(answer_on_ring=2, talk_time=3) for ext in ("1001", "1002", "1003")}
    inquiry, complaint, other, callback = "13800000101", "13800000102", "13800000103", "13800000104"
    async with running_stack(tmp_path, engine, db_url, sounds, agents) as stack:
        truths = await place_all(stack, {
            inquiry: CallerBehaviour(digits=["1"]),
            complaint: CallerBehaviour(digits=["9", "2"]),  # a wrong key first
            other: CallerBehaviour(digits=["9", "7", "0"]),  # wrong three times
            callback: CallerBehaviour(digits=["4"]),  # "call me back"
        })
    rows = stored_calls(engine)
    for truth in truths.values():
        assert_answered_by_the_rules(truth)
    for number in truths:
        assert rows[e164(number)].rings_at_answer == 3

    assert prompts(truths[inquiry]) == ["greeting", "main_menu"]
    assert prompts(truths[complaint]) == ["greeting", "main_menu", "menu_invalid", "main_menu"]
    # after the last try, invalid input goes to an agent as "other" (it is not silence)
    assert prompts(truths[other]) == ["greeting", "main_menu", "menu_invalid", "main_menu",
                                      "menu_invalid", "main_menu"]
    for number, category in ((inquiry, "inquiry"), (complaint, "complaint"), (other, "other")):
        row = rows[e164(number)]
        assert truths[number]["answered_by"] in agents
        assert (row.category, row.disposition) == (category, "answered"), number
        assert row.answered_by_agent_id == stack.agents[truths[number]["answered_by"]]

    asked = truths[callback]
    assert prompts(asked) == ["greeting", "main_menu", "callback_confirm", "closing"]
    assert asked["offers"] == [] and asked["ended_by"] != "caller"
    row = rows[e164(callback)]
    assert (row.disposition, row.category) == ("callback_requested", None)
    [task] = stored_tasks(engine)
    assert (task.type, task.status, task.window) == (
        TaskType.REQUESTED, TaskStatus.PENDING, CallingWindow.WORKING_HOURS)
    assert task.phone == e164(callback) and task.call_id == row.id and task.agent_id is None
    # the harness is open all day: due the moment the caller asked, by the day's closing time
    answered_at, ended_at = utc(asked["answered_at"]), utc(asked["ended_at"])
    assert answered_at is not None and ended_at is not None
    assert answered_at <= task.due_at <= ended_at
    local_day = task.due_at.astimezone(SHANGHAI).date()
    assert task.deadline_at == dt.datetime.combine(local_day, dt.time(23, 59), SHANGHAI)
    assert errors_logged(caplog) == []


async def test_silence_and_a_hang_up_in_every_node(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The silent caller hears the silence script and is hung up on (disposition silent);
    every caller who hangs up, wherever in the flow, ends the session without an error and is
    stored as abandoned. Agent 1001 never answers; the blacklisted caller may only go to team
    leaders and supervisors, of whom none is on duty, so that caller waits on hold."""
    silent, ringing, greeting, menu, hold, agent_ringing, retried = (
        f"138000002{i:02d}" for i in range(7))
    add_blacklisted(sqlite_engine, e164(hold))
    agents = {"1001": AgentBehaviour(mode="never")}
    async with running_stack(tmp_path, sqlite_engine, str(sqlite_engine.url), sounds, agents) as stack:
        truths = await place_all(stack, {
            silent: CallerBehaviour(),
            ringing: CallerBehaviour(patience=5),  # answered only at ring 3 (12.5 s)
            greeting: CallerBehaviour(hangup_after_answer=1),
            menu: CallerBehaviour(hangup_after_answer=7),  # greeting 3.4 s, then the menu 7 s
            # the menu choice is in ~12 s after the answer, then agents
            hold: CallerBehaviour(digits=["1"], hangup_after_answer=20),
            agent_ringing: CallerBehaviour(digits=["1"], hangup_after_answer=20),
            # no key the first time (a 5 s timeout, real), "3" the second: repair
            retried: CallerBehaviour(digits=[None, "3"], patience=120),
        }, stagger=0.05)
        ivr_stats = stack.runtime.ivr.stats
    rows = stored_calls(sqlite_engine)

    assert_answered_by_the_rules(truths[silent])
    assert prompts(truths[silent]) == ["greeting", "main_menu", "main_menu", "main_menu", "silence"]
    assert truths[silent]["ended_by"] != "caller" and not truths[silent]["abandoned"]
    assert (rows[e164(silent)].disposition, rows[e164(silent)].end_reason) == ("silent", "system-hangup")

    where = {ringing: "ringing", greeting: "ivr", menu: "ivr", hold: "ivr",
             agent_ringing: "agent_ringing", retried: "ivr"}
    for number, during in where.items():
        truth, row = truths[number], rows[e164(number)]
        assert truth["abandoned_during"] == during, (number, truth)
        assert (row.disposition, row.end_reason) == ("abandoned", "caller-hangup"), number
        if number != ringing:
            assert_answered_by_the_rules(truth)
    assert truths[ringing]["answered_at"] is None and rows[e164(ringing)].answered_at is None
    assert prompts(truths[greeting]) == ["greeting"]
    assert prompts(truths[menu]) == ["greeting", "main_menu"]
    # the blacklisted caller was never offered to the ordinary agent, though 1001 was free
    assert truths[hold]["offers"] == [] and prompts(truths[hold])[-1] == "please_wait"
    assert [o["extension"] for o in truths[agent_ringing]["offers"]] == ["1001"]
    assert truths[agent_ringing]["offers"][0]["outcome"] == "cancelled"
    # the menu waited, asked again, and took the second answer
    assert prompts(truths[retried])[:3] == ["greeting", "main_menu", "main_menu"]
    assert rows[e164(retried)].category == "repair"

    assert errors_logged(caplog) == []
    assert (ivr_stats.crashes, ivr_stats.command_errors) == (0, 0)


NOTICE = ["greeting", "hours_notice", "after_hours_callback_offer"]


@pytest.mark.parametrize(
    ("moment", "callback_due", "every_way_out"),
    [
        # National Day week: closed; the next calling window opens on Thursday 8 October
        (dt.datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI),
         dt.datetime(2026, 10, 8, 8, 0, tzinfo=SHANGHAI), True),
        # 调休: Saturday 14 February 2026 is a working day: open in business hours
        (dt.datetime(2026, 2, 14, 10, 0, tzinfo=SHANGHAI), None, False),
        # ... and closed after them; the Spring Festival follows, so the callback waits for
        # Tuesday 24 February
        (dt.datetime(2026, 2, 14, 21, 0, tzinfo=SHANGHAI),
         dt.datetime(2026, 2, 24, 8, 0, tzinfo=SHANGHAI), False),
    ],
    ids=["national-day", "adjusted-working-saturday", "adjusted-working-saturday-evening"],
)
async def test_business_hours_follow_the_chinese_calendar(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path, caplog: pytest.LogCaptureFixture,
    moment: dt.datetime, callback_due: dt.datetime | None, every_way_out: bool,
) -> None:
    """With every part's clock on a given day: when closed, the caller hears the hours notice
    and the callback offer, and an accepted offer is due when the next calling window opens;
    on an adjusted working Saturday in business hours the hotline is open and agents answer."""
    accepts, declines, leaves, leaves_offer = (f"138000003{i:02d}" for i in range(4))
    agents = {"1001": AgentBehaviour(answer_on_ring=2, talk_time=3)}
    callers = {accepts: CallerBehaviour(digits=["1"])}
    if every_way_out:  # the other ways to leave an after-hours call (one closed day is enough)
        callers |= {
            declines: CallerBehaviour(),
            leaves: CallerBehaviour(hangup_after_answer=8),  # during the hours notice (9 s)
            # while the offer waits for a key (it started ~13 s after the answer)
            leaves_offer: CallerBehaviour(hangup_after_answer=25),
        }
    async with running_stack(tmp_path, sqlite_engine, str(sqlite_engine.url), sounds, agents,
                             clock=clock_from(moment), hours=REAL_HOURS) as stack:
        truths = await place_all(stack, callers)
    rows = stored_calls(sqlite_engine)
    for truth in truths.values():
        assert_answered_by_the_rules(truth)
    # the bridge dates the calls by the same clock: they happened on that day
    assert {r.arrived_at.astimezone(SHANGHAI).date() for r in rows.values()} == {moment.date()}

    if callback_due is None:
        assert prompts(truths[accepts]) == ["greeting", "main_menu"]
        assert truths[accepts]["answered_by"] == "1001"
        assert (rows[e164(accepts)].category, rows[e164(accepts)].disposition) == ("inquiry", "answered")
        assert stored_tasks(sqlite_engine) == []
        assert errors_logged(caplog) == []
        return
    assert prompts(truths[accepts]) == [*NOTICE, "callback_confirm", "closing"]
    assert all(t["offers"] == [] for t in truths.values())
    assert rows[e164(accepts)].disposition == "callback_requested"
    [task] = stored_tasks(sqlite_engine)
    assert (task.type, task.phone) == (TaskType.REQUESTED, e164(accepts))
    assert task.due_at == callback_due
    assert task.deadline_at == callback_due.replace(hour=12)  # the rest period starts
    if every_way_out:
        assert prompts(truths[declines]) == [*NOTICE, "closing"]
        assert prompts(truths[leaves]) == ["greeting", "hours_notice"]
        assert prompts(truths[leaves_offer]) == NOTICE
        assert rows[e164(declines)].disposition == "ivr_only"
        assert rows[e164(leaves)].disposition == rows[e164(leaves_offer)].disposition == "abandoned"
    assert errors_logged(caplog) == []


async def test_blacklisted_caller_is_recorded_from_the_start_and_goes_to_a_team_leader(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caller = "13800000401"
    add_blacklisted(engine, e164(caller))
    agents = {"1001": AgentBehaviour(answer_on_ring=1, talk_time=3),  # idle longest
              "2001": AgentBehaviour(answer_on_ring=2, talk_time=3)}
    async with running_stack(
        tmp_path, engine, db_url, sounds, agents, roles={"2001": "team_leader"},
        recordings={"sweep_seconds": 0.2, "settle_seconds": 0.2},
    ) as stack:
        events = stack.sim.record_events()
        truths = await place_all(stack, {caller: CallerBehaviour(digits=["2"])})
        stored = await _stored_recording(engine)
    truth = truths[caller]
    assert_answered_by_the_rules(truth)
    assert truth["variables"].get("HOTLINE_BLACKLISTED") == "1"
    # offered to the team leader only, although the ordinary agent had waited longer
    assert [o["extension"] for o in truth["offers"]] == ["2001"]
    assert truth["answered_by"] == "2001"

    # the recording started before the greeting (and is one file for the whole call)
    commands = [dict(h)["Command"] for name, h in events if name == "AGIExecStart"]
    first_mix = next(i for i, c in enumerate(commands) if c.startswith("EXEC MixMonitor"))
    greeting = next(i for i, c in enumerate(commands) if c.startswith("STREAM FILE") and "/greeting" in c)
    assert first_mix < greeting and not commands[first_mix].endswith(",b")
    [recorded] = truth["recordings"]
    assert recorded["seconds"] > truth["talk_seconds"] + 3  # the greeting and menu too

    row = stored_calls(engine)[e164(caller)]
    assert (row.category, row.disposition) == ("complaint", "answered")
    assert stored is not None and stored.reason == "blacklist"
    assert stored.call_id == row.id
    # filed under the spool name that says whose call it is, even across a restart
    spool_name = parse_spool_file_name(Path(stored.storage_key).name)
    assert spool_name is not None and spool_name.call_key == f"pbx1:{truth['linkedid']}"
    assert stored.duration_seconds is not None and stored.duration_seconds == pytest.approx(
        recorded["seconds"], abs=0.5)
    with session_factory(engine)() as s:
        flags = s.scalars(select(CallFlag.reason).where(CallFlag.call_key == f"pbx1:{truth['linkedid']}")).all()
    assert flags == ["blacklist"]
    assert errors_logged(caplog) == []


async def _stored_recording(engine: Engine, within: float = 10.0) -> Recording | None:
    """The first recording the recordings service stores, once it has (it settles first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        with session_factory(engine)() as s:
            found = s.scalars(select(Recording)).first()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    return None
