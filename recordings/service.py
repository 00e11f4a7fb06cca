"""The recordings service: follows calls on the bus, applies flags, and moves spool files.

Lifecycle of a spool file (MixMonitor writes every answered call into the spool):

* while the call lives, the file is left alone: a flag at any minute keeps the whole call;
* when the call ends, a flagged call's file goes to the store (after ``settle_seconds``, so
  MixMonitor has closed it); an unflagged one waits for the flag grace period and is then
  deleted by the next sweep (every ``sweep_seconds``, at most a minute) without ever reaching
  the store; a flag during the grace period stores it at once;
* files no tracked call owns (hotline restarted) are read by their name
  (:mod:`hotline.domain.spool`): once untouched for longer than the grace period they are
  stored if the database holds a flag for their call, else deleted. Names hotline did not
  give are never touched.

Database work runs in worker threads; the event loop only keeps the state and sends the AMI
actions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hotline.bus import EventBus
from hotline.crm.known_blacklist import KnownBlacklist
from hotline.db.models import Call, CallFlag
from hotline.domain.enums import FlagSource, RecordingReason
from hotline.domain.events import (
    AgentAnswered,
    Alert,
    CallAnswered,
    CallArrived,
    CallEnded,
    CallFlagged,
    DomainEvent,
    EscalationRaised,
    RecordingStarted,
)
from hotline.domain.phone import try_normalize_phone
from hotline.domain.ports import PbxActions
from hotline.domain.spool import parse_spool_file_name
from hotline.settings import Settings
from recordings import pbx_steps
from recordings.access import Actor, actor_for_user
from recordings.archive import CallFacts, NotReadyToStore, find_call, keep_recording, refile
from recordings.batch_writer import BatchWriter
from recordings.errors import FlagNotStored, Forbidden, NotFound, TooLate
from recordings.flags import FlagRequest, StoredFlag, store_flag
from recordings.live import LiveCalls, TrackedCall
from recordings.store import RecordingStore
from recordings.transcode import TranscodeCache

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
EVENT_KINDS: tuple[type[DomainEvent], ...] = (
    CallArrived, CallAnswered, AgentAnswered, RecordingStarted, CallFlagged, CallEnded,
)


# Tracked calls (or spool files) a sweep handles before it lets the event loop run others.
YIELD_EVERY = 256

# What the caller has been made to hear, by step (for messages).
STEP_DONE = {"warning": "warned (S15)", "ended": "told the closing line and cut off (S16)",
             "procedure": "told the company's procedure"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class FlagWrite:
    """A flag to store, as the service knows it when the request comes."""

    call_key: str
    caller_number: str | None
    reason: RecordingReason
    reason_text: str
    source: FlagSource
    actor_id: int | None
    at: dt.datetime
    blacklist: bool
    client: str | None


@dataclass(frozen=True)
class FlagResult:
    flag_id: int
    call_key: str
    reason: RecordingReason
    # What the caller was made to hear: "warning" (S15, then back to the agent), "ended"
    # (closing line, call ended as abusive), "procedure" (extortion procedure prompt), "none".
    step: str
    escalation_id: int | None = None
    blacklisted: bool = False
    recording_id: int | None = None
    pbx_error: str | None = None


@dataclass
class SweepReport:
    stored: list[int] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


class RecordingService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        pbx: PbxActions | None = None,
        bus: EventBus | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.cfg = settings.recordings
        self.sessions = sessions
        self.pbx = pbx
        self.bus = bus
        self.clock = clock
        self.store = RecordingStore(self.cfg.store_dir)
        self.cache = TranscodeCache(self.cfg.cache_dir, self.cfg.cache_max_mb * 1024 * 1024)
        self.blacklist = KnownBlacklist(sessions, name="recordings")
        self.spool = self.cfg.spool_dir.resolve()
        self.calls = LiveCalls()
        self._grace = dt.timedelta(minutes=self.cfg.flag_grace_minutes)
        self._settle = dt.timedelta(seconds=self.cfg.settle_seconds)
        # An unflagged recording goes once the grace period is over and MixMonitor has closed it.
        self._delete_after = max(self._grace, self._settle)
        # A spool file announced (RecordingStarted) but still not written this long after the
        # end is left to the orphan rule, which judges files by their name whenever they come.
        self._give_up = self._grace + self._settle + dt.timedelta(minutes=1)
        self._warned_names: set[str] = set()
        self._flags: BatchWriter[FlagWrite, StoredFlag] = BatchWriter(sessions, self._store_flag_in)
        self._sweeper: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()  # softphone flags awaiting the database
        sounds, language = settings.ivr.sounds_dir, settings.ivr.language
        self.warning_prompt = pbx_steps.prompt_path(sounds, language, self.cfg.warning_prompt)
        self.closing_prompt = pbx_steps.prompt_path(sounds, language, self.cfg.closing_prompt)
        self.extortion_prompt = (
            None if self.cfg.extortion_prompt is None
            else pbx_steps.prompt_path(sounds, language, self.cfg.extortion_prompt)
        )

    # -- wiring -------------------------------------------------------------------------

    # Softphone flags the database could not take are retried this often (doubling).
    FLAG_RETRY_MIN = 0.5
    FLAG_RETRY_MAX = 5.0

    def subscribe(self, bus: EventBus) -> None:
        self.bus = bus
        bus.subscribe("recordings", self.handle, kinds=EVENT_KINDS)

    async def start(self) -> None:
        """Run the sweep every ``sweep_seconds`` until :meth:`stop`."""
        self.spool.mkdir(parents=True, exist_ok=True)
        self._check_prompts()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(),
                                                               name="recordings-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)

    def _check_prompts(self) -> None:
        """Say at start-up, naming the setting, when a flag's prompt is not where Asterisk
        will look: the caller would hear nothing before being ended. Only a warning, since
        Asterisk may read the sounds from another host's copy of the same path."""
        for key, path in (("warning_prompt", self.warning_prompt),
                          ("closing_prompt", self.closing_prompt),
                          ("extortion_prompt", self.extortion_prompt)):
            if path is not None and not Path(f"{path}.wav").is_file():
                log.warning("recordings.%s: %s.wav does not exist here (run `hotline prompts "
                            "build`, or set an absolute path); a flagged caller would hear "
                            "nothing", key, path)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.sweep_seconds)
            try:
                await self.sweep()
            except Exception:
                log.exception("recordings sweep failed; retrying in %.0f s", self.cfg.sweep_seconds)

    def _publish(self, event: DomainEvent) -> None:
        if self.bus is not None:
            self.bus.publish(event)

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- events -------------------------------------------------------------------------

    async def handle(self, event: DomainEvent) -> None:
        if isinstance(event, CallArrived):
            call = self.calls.track(event.call_key)
            call.caller_channel = event.channel
            call.caller_number = event.caller_number
            call.arrived_at = event.at
            await self._flag_if_blacklisted(call, event.at)
        elif isinstance(event, CallAnswered):
            self.calls.track(event.call_key).answered_at = event.at
        elif isinstance(event, AgentAnswered):
            call = self.calls.track(event.call_key)
            call.agent_id = event.agent_id
            call.agent_channel = event.channel
        elif isinstance(event, RecordingStarted):
            path = self._spool_path(event.path)
            if path is not None:
                self.calls.track(event.call_key).spool_files.add(path)
        elif isinstance(event, CallFlagged):
            await self._flag_from_pbx(event)
        elif isinstance(event, CallEnded):
            call = self.calls.track(event.call_key)
            call.ended_at = event.at
            if call.agent_id is None:
                call.agent_id = event.agent_id
            if call.caller_number is None:
                call.caller_number = event.caller_number

    def _spool_path(self, raw: str) -> Path | None:
        """The spool file MixMonitor was told to write, refused when outside the spool."""
        path = Path(raw)
        if path.is_absolute() and path.resolve().parent != self.spool:
            log.error("recording %s is outside the spool %s: not managed", raw, self.spool)
            return None
        name = path.name if path.suffix else f"{path.name}.wav"
        return self.spool / name

    async def _flag_if_blacklisted(self, call: TrackedCall, at: dt.datetime) -> None:
        if call.blacklist_checked or not call.caller_number:
            return
        call.blacklist_checked = True
        region = self.settings.default_region
        if not await self._db(self._blacklisted, call.caller_number, region):
            return

        async def flag() -> None:
            async with call.lock:
                await self._store_flag(call, RecordingReason.BLACKLIST, "", FlagSource.BLACKLIST,
                                       None, at, False, None)
                call.reasons.append(RecordingReason.BLACKLIST)

        log.info("call %s from blacklisted %s is recorded from the start", call.call_key,
                 call.caller_number)
        try:
            await flag()
        except (SQLAlchemyError, FlagNotStored) as exc:
            # the blacklist copy knew the caller while the database is away: keep the
            # recording and store the flag once it is back
            call.pending_flags += 1
            log.error("blacklist flag on %s not stored yet (%s); retrying until the database "
                      "is back, the recording is kept meanwhile", call.call_key, exc)
            self._retry_in_background(
                call, self._until_stored(call, flag, f"blacklist flag on {call.call_key}"),
                f"blacklist-flag-retry-{call.call_key}")

    def _blacklisted(self, number: str, region: str) -> bool:
        phone = try_normalize_phone(number, region)
        return phone is not None and self.blacklist.lookup(phone)

    async def _flag_from_pbx(self, event: CallFlagged) -> None:
        """A feature code (*71/*72/*73) dialled by the agent, as the bridge reports it.

        Nobody is there to flag again when the database is unreachable (PostgreSQL
        restarting): the flag is then retried in the background until it is stored, and the
        call's recording is kept meanwhile. Before, it was dropped with an error in the log,
        and the sweep deleted the recording as unflagged (issue 9's PostgreSQL fault)."""
        call = self.calls.track(event.call_key)
        try:
            await self._flag_from_pbx_once(call, event)
        except (SQLAlchemyError, FlagNotStored) as exc:
            call.pending_flags += 1
            log.error("flag %s on %s from the softphone not stored yet (%s); retrying until "
                      "the database is back, the recording is kept meanwhile", event.reason,
                      event.call_key, exc)
            self._retry_in_background(
                call, self._retry_flag(call, event, played=isinstance(exc, FlagNotStored)),
                f"flag-retry-{event.call_key}")

    async def _retry_flag(self, call: TrackedCall, event: CallFlagged, *, played: bool) -> None:
        """Store a softphone flag the database could not take. ``played``: what the flag
        asks of Asterisk was done already (only the row is missing), so only the row is
        written; otherwise the whole flag is taken again, as late as the database allows."""
        done = [played]

        async def attempt() -> None:
            try:
                if done[0]:
                    actor = await self._actor_for_flag(call, event)
                    if actor is not None:
                        await self._store_flag(call, event.reason, self._flag_text(event),
                                               FlagSource.FEATURE_CODE, actor.user_id,
                                               event.at, False, actor.client)
                else:
                    await self._flag_from_pbx_once(call, event)
            except FlagNotStored:
                done[0] = True
                raise

        await self._until_stored(call, attempt, f"flag {event.reason} on {event.call_key} from the softphone")

    async def _until_stored(self, call: TrackedCall, attempt: Callable[[], Awaitable[None]], what: str) -> None:
        """Try ``attempt`` with back-off until the database takes it; the call's recording is
        kept meanwhile (``pending_flags``, which the caller raised before starting this)."""
        delay = self.FLAG_RETRY_MIN
        try:
            while True:
                await asyncio.sleep(delay)
                delay = min(self.FLAG_RETRY_MAX, delay * 2)
                try:
                    await attempt()
                except (SQLAlchemyError, FlagNotStored):
                    continue
                log.warning("%s stored after the database came back", what)
                return
        finally:
            call.pending_flags -= 1

    def _retry_in_background(self, call: TrackedCall, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    @staticmethod
    def _flag_text(event: CallFlagged) -> str:
        return event.reason_text or (
            "flagged from the softphone" if event.reason == RecordingReason.OTHER else ""
        )

    async def _actor_for_flag(self, call: TrackedCall, event: CallFlagged) -> Actor | None:
        user_id = event.flagged_by_user_id
        if user_id is None and call.agent_id is not None:
            user_id = await self._db(self._user_of_agent, call.agent_id)
        return await self._db(self._actor, user_id) if user_id is not None else None

    async def _flag_from_pbx_once(self, call: TrackedCall, event: CallFlagged) -> None:
        actor = await self._actor_for_flag(call, event)
        if actor is None:
            log.error("flag %s on %s: no active user behind it; ignored", event.reason,
                      event.call_key)
            return
        try:
            request = FlagRequest.parse(
                {"call_key": event.call_key, "reason": event.reason,
                 "reason_text": self._flag_text(event)}
            )
            await self.flag(actor, request, source=FlagSource.FEATURE_CODE, at=event.at)
        except (SQLAlchemyError, FlagNotStored):
            raise
        except Exception as exc:
            log.error("flag %s on %s from the softphone refused: %s", event.reason,
                      event.call_key, exc)

    def _user_of_agent(self, agent_id: int) -> int | None:
        from hotline.db.models import Agent

        with self.sessions() as session:
            return session.scalar(select(Agent.user_id).where(Agent.id == agent_id))

    def _actor(self, user_id: int) -> Actor | None:
        with self.sessions() as session:
            return actor_for_user(session, user_id)

    # -- flags --------------------------------------------------------------------------

    async def flag(
        self, actor: Actor, data: FlagRequest | dict[str, Any], *,
        source: FlagSource = FlagSource.API, at: dt.datetime | None = None,
    ) -> FlagResult:
        """Flag a call for ``actor``: store the flag, then warn, end, or escalate. ``at``:
        when it was asked for, if not now (a softphone flag stored once the database is back
        counts from when the agent dialled it, for the grace period too)."""
        request = FlagRequest.parse(data)
        now = at or self.clock()
        call = await self._call_for(actor, request)
        if not actor.may_flag(call.agent_id):
            raise Forbidden(f"call {call.call_key} is not yours to flag")
        if call.ended_at is not None and now > call.ended_at + self._grace:
            raise TooLate(
                f"call {call.call_key} ended at {call.ended_at:%Y-%m-%d %H:%M:%S} UTC; flags are "
                f"taken up to {self.cfg.flag_grace_minutes} minutes after the end"
            )
        async with call.lock:
            stored, step, pbx_error = await self._store_and_act(call, request, source, actor,
                                                                now)
            recording_id = None
            if call.ended_at is not None:
                recording_id = await self._store_files(call, now)
                # Kept already (flagged before, maybe by a process since restarted): file it
                # under the new flag too, e.g. an extortion flag in the grace period puts it
                # on legal hold.
                await self._db(refile, self.sessions, call.call_key, now)
        self._announce(call, request, stored, actor)
        return FlagResult(
            flag_id=stored.flag_id, call_key=call.call_key, reason=request.reason, step=step,
            escalation_id=stored.escalation_id, blacklisted=stored.blacklisted,
            recording_id=recording_id, pbx_error=pbx_error,
        )

    async def _store_and_act(
        self, call: TrackedCall, request: FlagRequest, source: FlagSource, actor: Actor,
        now: dt.datetime,
    ) -> tuple[StoredFlag, str, str | None]:
        """Store the flag and send what it asks of Asterisk, both at once.

        At once, because the caller should hear the warning within 50 ms of the agent's click
        even when a hundred flags come together, and a flag's commit can take longer than
        that under load (SQLite takes one writer at a time). What is sent depends only on
        what the service knows of the call already (its channels, its earlier flags), and
        every refusal that needs no database (permission, grace period, bad input) is made
        before. If the database then fails, :class:`FlagNotStored` says what the caller has
        already heard. A blacklist request waits for the database first: it can refuse the
        caller's number, and then nothing may have been played."""
        abusive_before = call.abusive_flags
        write = asyncio.ensure_future(self._store_flag(
            call, request.reason, request.reason_text, source, actor.user_id, now,
            request.blacklist, actor.client,
        ))
        if request.blacklist:
            stored: StoredFlag = await write
            step, pbx_error = await self._pbx_step(call, request.reason, abusive_before)
            call.reasons.append(request.reason)
            return stored, step, pbx_error
        try:
            step, pbx_error = await self._pbx_step(call, request.reason, abusive_before)
        except BaseException:  # cancelled: the write goes on in its thread
            write.add_done_callback(lambda done: self._stored_meanwhile(call, request, done))
            raise
        try:
            stored = await write
        except Exception as exc:
            if step == "none":
                raise  # nothing was played: an ordinary refusal or failure
            call.reasons.append(request.reason)  # what the caller heard counts for the next flag
            log.error("flag %s on %s was not stored although the caller was %s: %s",
                      request.reason.value, call.call_key, STEP_DONE[step], exc)
            raise FlagNotStored(
                f"the caller was {STEP_DONE[step]}, but the flag could not be stored "
                f"({type(exc).__name__}); flag the call again"
            ) from exc
        call.reasons.append(request.reason)
        return stored, step, pbx_error

    @staticmethod
    def _stored_meanwhile(call: TrackedCall, request: FlagRequest,
                          done: asyncio.Future[StoredFlag]) -> None:
        if not done.cancelled() and done.exception() is None:
            call.reasons.append(request.reason)

    async def _store_flag(
        self, call: TrackedCall, reason: RecordingReason, text: str, source: FlagSource,
        actor_id: int | None, at: dt.datetime, blacklist: bool, client: str | None,
    ) -> StoredFlag:
        return await self._flags.write(FlagWrite(
            call_key=call.call_key, caller_number=call.caller_number, reason=reason,
            reason_text=text, source=source, actor_id=actor_id, at=at, blacklist=blacklist,
            client=client,
        ))

    def _store_flag_in(self, session: Session, flag: FlagWrite) -> StoredFlag:
        """One flag, inside the batch's transaction (:mod:`recordings.batch_writer`)."""
        row = find_call(session, flag.call_key)
        return store_flag(
            session, call_key=flag.call_key, call_id=row.id if row else None,
            reason=flag.reason, reason_text=flag.reason_text, source=flag.source,
            actor_id=flag.actor_id, at=flag.at, blacklist=flag.blacklist,
            caller_number=flag.caller_number or (row.caller_number if row else None),
            region=self.settings.default_region, client=flag.client,
        )

    async def _call_for(self, actor: Actor, request: FlagRequest) -> TrackedCall:
        if request.call_key is None and request.call_id is None:
            if actor.agent_id is None:
                raise NotFound("no call given, and you have no agent seat with a current call")
            call = self.calls.current_call_of(actor.agent_id)
            if call is None:
                raise NotFound("you have no current call to flag")
            return call
        if request.call_key is not None and (call := self.calls.get(request.call_key)):
            return call
        # Not followed on the bus (hotline restarted since): read the call's row.
        found = await self._db(self._call_from_db, request.call_key, request.call_id)
        if found is None:
            raise NotFound(f"no call {request.call_key or request.call_id}")
        return self._track_from_row(found)

    def _call_from_db(self, key: str | None, call_id: int | None) -> dict[str, Any] | None:
        with self.sessions() as session:
            row = find_call(session, key) if key else session.get(Call, call_id)
            if row is None:
                return None
            call_key = f"{row.pbx}:{row.linkedid}"
            return {
                "call_key": call_key, "caller_number": row.caller_number,
                "arrived_at": row.arrived_at, "answered_at": row.answered_at,
                "agent_id": row.answered_by_agent_id, "ended_at": row.ended_at,
                "reasons": list(session.scalars(
                    select(CallFlag.reason).where(CallFlag.call_key == call_key)
                )),
            }

    def _track_from_row(self, facts: dict[str, Any]) -> TrackedCall:
        if (tracked := self.calls.get(facts["call_key"])) is not None:
            return tracked
        call = self.calls.track(facts["call_key"])
        call.caller_number = facts["caller_number"]
        call.arrived_at, call.answered_at = facts["arrived_at"], facts["answered_at"]
        call.agent_id = facts["agent_id"]
        # Not followed to its end by this process: ended when the row says so.
        call.ended_at = facts["ended_at"]
        call.reasons.extend(facts["reasons"])
        call.spool_files.update(self._spool_files_named_for(call.call_key))
        return call

    async def _pbx_step(
        self, call: TrackedCall, reason: RecordingReason, abusive_before: int
    ) -> tuple[str, str | None]:
        """Send what the flag asks of Asterisk; a failure is reported, the flag stays."""
        if not call.live or self.pbx is None or call.caller_channel is None:
            return "none", None
        cfg, timeout = self.cfg, self.settings.ami.action_timeout * 4
        try:
            if reason is RecordingReason.ABUSIVE and abusive_before == 0 and call.agent_channel:
                await pbx_steps.play_then_rejoin(
                    self.pbx, context=cfg.warning_context, exten="warn",
                    caller=call.caller_channel, agent=call.agent_channel,
                    prompt=self.warning_prompt, timeout=timeout,
                )
                return "warning", None
            if reason is RecordingReason.ABUSIVE and abusive_before == 1:
                await pbx_steps.play_then_end(
                    self.pbx, context=cfg.warning_context, caller=call.caller_channel,
                    agent=call.agent_channel, prompt=self.closing_prompt, disposition="abusive",
                    timeout=timeout,
                )
                return "ended", None
            procedure = self.extortion_prompt
            if reason is RecordingReason.EXTORTION and procedure and call.agent_channel:
                await pbx_steps.play_then_rejoin(
                    self.pbx, context=cfg.warning_context, exten="notice",
                    caller=call.caller_channel, agent=call.agent_channel,
                    prompt=procedure, timeout=timeout,
                )
                return "procedure", None
        except Exception as exc:  # the AMI link is down, the channel is gone...
            log.error("flag on %s: the PBX step failed: %s", call.call_key, exc)
            return "none", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return "none", None

    def _announce(self, call: TrackedCall, request: FlagRequest, stored: StoredFlag,
                  actor: Actor) -> None:
        now = self.clock()
        if stored.escalation_id is not None:
            self._publish(EscalationRaised(
                at=now, pbx=call.call_key.partition(":")[0], kind="extortion",
                message=f"勒索/敲诈来电 extortion flagged on call {call.call_key}",
                data={"call_key": call.call_key, "flag_id": str(stored.flag_id),
                      "reason_text": request.reason_text},
                escalation_id=stored.escalation_id, call_key=call.call_key,
                recipient_user_ids=stored.recipient_user_ids,
            ))
        else:
            self._publish(Alert(
                at=now, pbx=call.call_key.partition(":")[0], kind="call-flagged",
                message=f"call {call.call_key} flagged {request.reason.value}",
                data={"call_key": call.call_key, "reason": request.reason.value,
                      "flag_id": str(stored.flag_id), "by_user_id": str(actor.user_id)},
            ))

    # -- spool → store ------------------------------------------------------------------

    def _spool_files_named_for(self, call_key: str,
                               listing: list[Path] | None = None) -> set[Path]:
        found = set()
        for path in self._spool_listing() if listing is None else listing:
            parsed = parse_spool_file_name(path.name)
            if parsed is not None and parsed.call_key == call_key:
                found.add(path)
        return found

    async def _store_files(self, call: TrackedCall, now: dt.datetime) -> int | None:
        """Move the call's spool files to the store; the id of the last one kept. A file
        announced but not written yet stays unsettled, so the call is not taken as stored."""
        listing = await asyncio.to_thread(self._spool_listing)
        call.spool_files.update(self._spool_files_named_for(call.call_key, listing))
        facts = CallFacts(call.call_key, call.agent_id, call.caller_number)
        last_id = None
        for path in sorted(call.unsettled_files):
            if not path.exists():
                continue
            try:
                recording = await self._db(
                    keep_recording, self.sessions, self.store, path, facts, now=now,
                    tz=self.settings.tz, retention_days=self.cfg.retention_days,
                    region=self.settings.default_region,
                )
            except NotReadyToStore as exc:
                log.warning("recording of %s waits: %s", call.call_key, exc)
                return last_id
            call.settled_files.add(path)
            last_id = recording.id
        return last_id

    def _delete_files(self, call: TrackedCall, report: SweepReport) -> None:
        for path in sorted(call.unsettled_files):
            if path.exists():
                path.unlink()
                call.settled_files.add(path)
                report.deleted.append(path.name)

    async def sweep(self, now: dt.datetime | None = None) -> SweepReport:
        """Store what is flagged, delete what is due, adopt files of calls not followed."""
        now = now or self.clock()
        report = SweepReport()
        listing = await asyncio.to_thread(self._spool_listing)
        self._adopt_spool_files(listing)
        for n, call in enumerate(self.calls.all(), 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a busy hour's spool: let ring timers and AMI reads run
            if call.ended_at is None:
                continue
            async with call.lock:
                if call.pending_flags:
                    continue  # a flag waits for the database: keep everything meanwhile
                if call.flagged:
                    if not call.stored and now >= call.ended_at + self._settle:
                        recording_id = await self._store_files(call, now)
                        if recording_id is not None:
                            report.stored.append(recording_id)
                    if call.stored:
                        # followed until the grace period is over, for later flags to refile
                        if now >= call.ended_at + self._grace:
                            self.calls.forget(call.call_key)
                    elif now >= call.ended_at + self._give_up:
                        self._give_up_on(call)
                    elif now >= call.ended_at + self._settle:
                        report.waiting.append(call.call_key)
                    continue
                if now < call.ended_at + self._delete_after:
                    continue
                self._delete_files(call, report)
                if not call.unsettled_files:
                    self.calls.forget(call.call_key)
                elif now >= call.ended_at + self._give_up:
                    self._give_up_on(call)
        await self._sweep_orphans(now, report, listing)
        return report

    def _give_up_on(self, call: TrackedCall) -> None:
        """Stop following a call whose files could not be settled: announced by MixMonitor
        but never written, or not storable yet (its row or flags not in the database). Said
        once; the orphan rule takes any such file from here (kept if the database holds a
        flag for its call, else deleted), so nothing is lost and nothing lingers."""
        files = ", ".join(
            f"{p.name} ({'not storable yet' if p.exists() else 'never written'})"
            for p in sorted(call.unsettled_files)
        )
        log.error("call %s ended at %s UTC: spool file(s) %s in %s; left to the spool sweep",
                  call.call_key, f"{call.ended_at:%Y-%m-%d %H:%M:%S}", files, self.spool)
        self.calls.forget(call.call_key)

    def _adopt_spool_files(self, listing: list[Path]) -> None:
        """Files named for a tracked call belong to it, whether or not RecordingStarted came."""
        for path in listing:
            parsed = parse_spool_file_name(path.name)
            if parsed is not None and (call := self.calls.get(parsed.call_key)) is not None:
                call.spool_files.add(path)

    def _spool_listing(self) -> list[Path]:
        """The spool's regular files (a symlink is never followed out of it), by name. Read in
        a worker thread: on a busy day the spool holds hundreds of files, and the event loop
        must not wait on the disk while flags are being played."""
        try:
            with os.scandir(self.spool) as entries:
                return sorted(self.spool / e.name for e in entries
                              if e.is_file(follow_symlinks=False))
        except FileNotFoundError:
            return []

    async def _sweep_orphans(self, now: dt.datetime, report: SweepReport,
                             listing: list[Path]) -> None:
        stale_after = (self._grace + dt.timedelta(minutes=1)).total_seconds()
        owned = {path for call in self.calls.all() for path in call.spool_files}
        for n, path in enumerate(listing, 1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if path in owned:
                continue
            parsed = parse_spool_file_name(path.name)
            if parsed is None:
                if path.name not in self._warned_names:
                    self._warned_names.add(path.name)
                    log.warning("spool file %s was not named by hotline: left alone", path.name)
                continue
            try:
                idle = now.timestamp() - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if idle < stale_after:
                continue  # maybe a live call hotline has not heard of yet
            flagged = await self._db(self._has_flags, parsed.call_key)
            if flagged:
                call = self.calls.track(parsed.call_key)
                call.ended_at = call.ended_at or now
                call.reasons.extend(flagged)
                async with call.lock:
                    recording_id = await self._store_files(call, now)
                if recording_id is not None:
                    report.stored.append(recording_id)
                if call.stored:
                    self.calls.forget(call.call_key)
                else:
                    report.waiting.append(call.call_key)
            else:
                path.unlink(missing_ok=True)
                report.deleted.append(path.name)
                log.info("deleted unflagged spool file %s of a call hotline did not follow",
                         path.name)

    def _has_flags(self, call_key: str) -> list[RecordingReason]:
        with self.sessions() as session:
            return list(session.scalars(
                select(CallFlag.reason).where(CallFlag.call_key == call_key)
            ))
