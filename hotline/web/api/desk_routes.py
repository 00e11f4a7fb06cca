"""The agent desk: own state through the bridge's AgentControl, the lists shown at login
(missed calls since the last logout, today's follow-ups), callbacks, the scripts for the
moment, and the live feed (SSE) that fills the caller card."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.sse import EventSourceResponse, ServerSentEvent

from hotline.accounts.audit import audit
from hotline.crm.callbacks import schedule_callback
from hotline.crm.queries import current_call, missed_calls, todays_follow_ups
from hotline.crm.schemas import CallbackIn
from hotline.db.models import Agent
from hotline.domain.errors import InvalidInput
from hotline.domain.ports import AgentControl
from hotline.web.api.models import (
    AgentStateIn,
    AgentStateOut,
    CallOut,
    CaseOut,
    ComplaintOut,
    CurrentCallOut,
    DeskAgentOut,
    DeskOut,
    FollowUpsOut,
    MissedCallOut,
    ScriptOut,
    TaskOut,
    out,
)
from hotline.web.auth.gates import DeskAgent, Staff
from hotline.web.auth.principal import Principal
from hotline.web.context import WebContext, web_context
from hotline.web.live import LiveFeed

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["desk"])
Web = Annotated[WebContext, Depends(web_context)]


def _start_of_today(web: WebContext) -> dt.datetime:
    local = web.now().astimezone(web.settings.tz)
    return dt.datetime.combine(local.date(), dt.time(0), web.settings.tz).astimezone(dt.UTC)


@router.get("/desk", response_model=DeskOut)
def desk(who: DeskAgent, web: Web) -> DeskOut:
    """What the agent sees first (rules 1.12, 5.1): calls missed since their last logout
    (since midnight if they never logged out), what to follow up by the end of today, and the
    call their phone is on (or just finished), so a reloaded page shows its caller again."""
    tz = web.settings.tz
    assert who.agent_id is not None
    with web.sessions() as s:
        agent = s.get(Agent, who.agent_id)
        assert agent is not None
        since = agent.last_logout_at or _start_of_today(web)
        missed = missed_calls(s, agent_id=agent.id, since=since)
        end_of_today = _start_of_today(web) + dt.timedelta(days=1)
        follow = todays_follow_ups(s, agent_id=agent.id, user_id=who.user_id,
                                   until=end_of_today)
        grace = dt.timedelta(minutes=web.settings.recordings.flag_grace_minutes)
        call = current_call(s, agent_id=agent.id, now=web.now(), grace=grace)
        return DeskOut(
            current_call=CurrentCallOut(
                call_key=f"{call.pbx}:{call.linkedid}", call_id=call.id,
                caller_number=call.caller_number, category=call.category,
                arrived_at=call.arrived_at.astimezone(tz),
                agent_answered_at=call.agent_answered_at.astimezone(tz)
                if call.agent_answered_at else None,
                ended_at=call.ended_at.astimezone(tz) if call.ended_at else None,
            ) if call is not None else None,
            agent=DeskAgentOut(agent_id=agent.id, extension=agent.extension, state=agent.state,
                               pause_reason=agent.pause_reason,
                               last_logout_at=agent.last_logout_at.astimezone(tz)
                               if agent.last_logout_at else None),
            missed_since=since.astimezone(tz),
            missed_calls=[MissedCallOut(call=out(CallOut, m.call, tz), rang_me=m.rang_me,
                                        followed_up=m.followed_up) for m in missed],
            follow_ups=FollowUpsOut(
                tasks=[out(TaskOut, t, tz) for t in follow.tasks],
                cases=[out(CaseOut, c, tz) for c in follow.cases],
                complaints=[out(ComplaintOut, c, tz) for c in follow.complaints],
            ),
        )


def agent_control(web: Web) -> AgentControl:
    control = web.services.agent_control
    if control is None:
        raise HTTPException(
            503, "agent state is kept by the AMI bridge, which is not connected to this web "
                 "app; try again when hotline runs with the bridge",
        )
    return control


Control = Annotated[AgentControl, Depends(agent_control)]


async def _ask_bridge(who: Principal, what: str, call: object) -> None:
    try:
        await call  # type: ignore[misc]
    except Exception as exc:  # the bridge is another service: report, never 500
        log.warning("bridge refused %s for agent %s: %s", what, who.agent_id, exc)
        raise HTTPException(502, f"the AMI bridge could not {what}: {exc}") from None


@router.post("/desk/state", response_model=AgentStateOut)
async def set_state(body: AgentStateIn, who: DeskAgent, control: Control) -> AgentStateOut:
    """Ready, or paused with a reason."""
    assert who.agent_id is not None
    if body.state == "paused":
        if not body.reason:
            raise InvalidInput.single("reason", "a pause needs a reason (e.g. 休息 break)")
        await _ask_bridge(who, "pause the agent", control.pause(who.agent_id, body.reason))
        return AgentStateOut(agent_id=who.agent_id, requested="paused", reason=body.reason)
    await _ask_bridge(who, "make the agent ready", control.set_ready(who.agent_id))
    return AgentStateOut(agent_id=who.agent_id, requested="ready")


@router.post("/desk/login", response_model=AgentStateOut)
async def agent_log_in(who: DeskAgent, control: Control) -> AgentStateOut:
    """Start work: the agent's seat is logged in to the queue (paused until ready)."""
    assert who.agent_id is not None
    await _ask_bridge(who, "log the agent in", control.log_in(who.agent_id))
    return AgentStateOut(agent_id=who.agent_id, requested="logged_in")


@router.post("/desk/logout", response_model=AgentStateOut)
async def agent_log_out(who: DeskAgent, control: Control) -> AgentStateOut:
    """End work: the seat leaves the queue; missed calls from now on are listed at the next
    login."""
    assert who.agent_id is not None
    await _ask_bridge(who, "log the agent out", control.log_out(who.agent_id))
    return AgentStateOut(agent_id=who.agent_id, requested="logged_out")


@router.post("/callbacks", response_model=TaskOut, status_code=201)
def schedule(body: CallbackIn, who: DeskAgent, web: Web) -> TaskOut:
    """Promise a callback: an outbound task of type ``requested`` for this agent, due now or
    at ``due_at``, dialled by the scheduler inside calling windows."""
    assert who.agent_id is not None
    with web.sessions.begin() as s:
        task = schedule_callback(s, body, agent_id=who.agent_id, region=web.region,
                                 now=web.now())
        audit(s, "callback.schedule", actor_id=who.user_id, object_type="outbound_task",
              object_id=task.id, details={"phone": task.phone}, client=who.client,
              at=web.now())
        return out(TaskOut, task, web.settings.tz)


@router.get("/scripts", response_model=list[ScriptOut])
def scripts(who: Staff, web: Web) -> list[ScriptOut]:
    """The scripted phrases S1-S16 by moment of the call, Mandarin first, as the IVR's prompt
    catalogue words them."""
    return [ScriptOut(id=x.id, moment=x.moment, moment_zh=x.moment_zh, zh=list(x.zh),
                      en=list(x.en), source=x.source) for x in web.scripts]


def live_feed(web: Web) -> LiveFeed:
    if web.live is None:
        raise HTTPException(503, "no live events: this web app runs without the event bus")
    return web.live


@router.get("/live", response_class=EventSourceResponse)
async def live(who: Staff, web: Web, feed: Annotated[LiveFeed, Depends(live_feed)]
               ) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: calls offered to and answered by this agent (everything for team
    leaders and up), agent states, alerts. The first event, ``hello``, confirms the feed; the
    stream ends after a while and the browser reconnects (``retry`` ms later)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + web.services.live_stream_seconds
    with feed.listen(who) as listener:
        yield ServerSentEvent(event="hello", retry=2000,
                              data={"user": who.username, "agent_id": who.agent_id})
        while (left := deadline - loop.time()) > 0:
            try:
                payload = await asyncio.wait_for(listener.queue.get(), timeout=left)
            except TimeoutError:
                break
            yield ServerSentEvent(event=payload["type"], data=payload)
