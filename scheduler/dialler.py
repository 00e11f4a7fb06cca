"""The exactly-once dialler: every attempt is dialled at most once, and an attempt whose fate
is unknown is resolved from the PBX, never sent again.

The protocol
============

1. **Claim and write** (one transaction, committed before anything is sent)::

       UPDATE outbound_tasks SET status='dialling', attempts=attempts+1
        WHERE id=:task AND status='pending' AND attempts < max_attempts
       INSERT INTO outbound_attempts (task_id, epoch, state='prepared', ...)
       UPDATE outbound_attempts SET action_id='attempt-<id>'

   The conditional UPDATE lets one scheduler only win a task; the partial unique index
   ``uq_outbound_attempts_open_task`` (one unsettled attempt per task) makes the database
   refuse a second open attempt even if two schedulers both thought they were leader.

2. **Send once**, and only while this scheduler's leader lease is valid
   (:meth:`scheduler.leader.LeaderLease.valid`, checked immediately before the send):
   ``Originate`` with ``ActionID: attempt-<id>`` and the channel variable
   ``HOTLINE_ATTEMPT_ID=<id>`` (``__``-inherited by every leg in the dialplan, and listed in
   manager.conf ``channelvars`` so that every channel event and ``CoreShowChannel`` carries
   it). If the lease is not valid at that moment, the attempt is settled as not sent (its try
   given back) and nothing leaves. An attempt is never handed to :meth:`PbxActions.originate` a second time: not after an
   error, not after a reconnect, not after a restart. A retry is a *new* attempt row.

3. **Settle** from the ``OriginateResponse``: customer first, its Reason is the customer's
   outcome (4 answered, 3 no answer, 5 busy, 8 congestion and 0/1 failed); agent first it says
   whether the *agent* answered: then the attempt is ``connected`` and the customer's result
   comes from the call's events: the bridge's ``CallUpdated`` records carry the attempt id and
   the customer leg's ``DialStatus`` (:meth:`Dialler.on_call_record`,
   scheduler/outcomes.py). The record's end frees the pacing slot; failing records,
   :meth:`Dialler.reconcile` sees the channels gone (twice in a row, so that a record still on
   its way through the bus is not overtaken). Settling is one transaction that also moves the
   task on (scheduler/settlement.py).

4. **Resolve, never resend.** An attempt that is not settled and that no running dialler
   follows (the process crashed or lost the lease; ``originate`` raised because the AMI link
   dropped) is resolved from Asterisk's state, ``CoreShowChannels``, and from the bridge's
   stored calls (``calls.attempt_id``):

   - a channel carrying ``HOTLINE_ATTEMPT_ID=<id>`` (or the attempt's Uniqueid) exists: the
     Originate was sent. The attempt is marked ``sent`` and *adopted*: it counts against the
     pacing limit, is settled as soon as the customer's leg is seen up or the bridge's record
     of the call says more, and its slot is freed when its channels are gone;
   - no channel, but a stored call with this attempt id: it was dialled and is over. Its
     outcome is what the stored call knew (the customer answered, the customer leg's dial
     status); if the record stops before the end (hotline stopped, or lost the AMI link,
     mid-call), what happened next is unknown and the customer may have answered: the attempt
     is settled ``failed`` and the task is *not* retried automatically (a person decides);
   - neither: the attempt is settled ``failed`` ("not found on the PBX nor among stored
     calls"). It is never sent again; the task takes its retry, if it has one left, as a new
     attempt after the retry delay, exactly as after a failed call.

   Attempts of an *older* leader epoch are resolved only once the new leader has held its
   lease for ``lease_seconds``. An old leader sends only while its lease is valid, and its
   lease expires at most ``lease_seconds`` after its last confirmed heartbeat, so by then it
   has stopped sending: an attempt it wrote but had not sent ("prepared", crash or loss of
   the lock between step 1 and step 2) can no longer leave after the new leader found no
   channel for it.

What this guarantees, and what it cannot
----------------------------------------
- An attempt (ActionID ``attempt-<id>``) reaches ``originate`` at most once, by construction.
- A task never has two attempts dialling at once (database index), so two schedulers on one
  database never dial one task twice at the same time.
- A crash between step 1 and step 2 leaves a ``prepared`` attempt that is resolved as not
  dialled; the task is dialled (once) by a new attempt.
- A crash after step 2 while the call is up: the call is found and adopted, not redialled.
- A crash after step 2, the call over before recovery looks: the bridge stored the call with
  its attempt id within milliseconds of its first channel, so the attempt is known to have
  been dialled and is never redialled blindly (see step 4). A second ``hotline serve`` on the
  same database and Asterisk follows the call to its end with its own bridge, so its outcome
  is then known exactly.
- What is left: the Originate left and the process died before the bridge's writer stored
  the call's first record (its batching delay, a few milliseconds after the channel
  appeared), and the call was over before recovery looked. The attempt is then taken as
  never sent, and the task's next retry (if any) rings the customer again after the retry
  delay.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import Agent, Call, CallLeg, OutboundAttempt, OutboundTask
from hotline.domain.enums import AttemptState, CallOutcome, TaskStatus, TaskType
from hotline.domain.events import CallRecord
from hotline.domain.ports import AgentOffer, OriginateResult, PbxActions
from hotline.domain.ring import RingPolicy
from hotline.settings import Settings
from scheduler.agents import AgentPicker
from scheduler.leader import LeaderLease
from scheduler.outcomes import DIALSTATUS_OUTCOMES, Verdict, customer_outcome, judge
from scheduler.pacing import Pacer
from scheduler.settlement import outcome_of_reason, settle

log = logging.getLogger(__name__)

ATTEMPT_VARIABLE = "HOTLINE_ATTEMPT_ID"
AGENT_FIRST_CONTEXT = "hotline-outbound"
CUSTOMER_FIRST_CONTEXT = "hotline-outbound-ivr"
CHANNEL_UP = "6"

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def action_id_for(attempt_id: int) -> str:
    return f"attempt-{attempt_id}"


def dial_digits(e164: str, region: str) -> str:
    """The digits the carrier trunk is dialled with: the national form for numbers of
    ``region`` (13812345678, 01012345678), the international prefix for others (001650...)."""
    number = phonenumbers.parse(e164, None)
    if phonenumbers.region_code_for_number(number) == region:
        text = phonenumbers.format_number_for_mobile_dialing(number, region, with_formatting=False)
    else:
        text = phonenumbers.format_out_of_country_calling_number(number, region)
    return "".join(ch for ch in text if ch.isdigit())


def dialable(e164: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return False


def channel_variables(channel: Mapping[str, object]) -> dict[str, str]:
    """Channel variables of one ``CoreShowChannel`` (or channel event) as the bridge hands it
    over: ``ChanVariable`` as one ``NAME=value`` string or a list of them (panoramisk turns
    repeated headers into lists), the legacy ``ChanVariable(<chan>)`` key, or the variable
    as a key of its own."""
    found: dict[str, str] = {}
    for key, value in channel.items():
        if key == ATTEMPT_VARIABLE and isinstance(value, str):
            found[key] = value
        if not key.startswith("ChanVariable"):
            continue
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, str) and "=" in item:
                name, _, val = item.partition("=")
                found[name.strip()] = val.strip()
    return found


def attempt_id_of(channel: Mapping[str, object]) -> int | None:
    raw = channel_variables(channel).get(ATTEMPT_VARIABLE, "")
    return int(raw) if raw.isdigit() else None


@dataclass(frozen=True)
class PlannedTask:
    """What the dispatcher needs to dial one task (read without holding a transaction)."""

    id: int
    type: TaskType
    phone: str
    agent_id: int | None


@dataclass
class InFlight:
    """An attempt this dialler follows until its call is over."""

    attempt_id: int
    task_id: int
    mode: str
    offer: AgentOffer | None
    settled: bool = False
    # The OriginateResponse is in (or the attempt was adopted after a restart): from then on
    # the call's end can be read from the PBX's channels.
    responded: bool = False
    adopted: bool = False
    seen_on_pbx: bool = False
    customer_up: bool = False
    # Agent first: the agent's phone did not take the call (the customer was never dialled).
    agent_failed: bool = False
    since: float = field(default_factory=time.monotonic)
    # The bridge's latest record of the call (CallUpdated), and whether it saw the end.
    record: CallRecord | None = None
    ended: bool = False
    # Reconciliations in a row that found none of its channels on the PBX.
    missing: int = 0


class Dialler:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        pbx: PbxActions,
        lease: LeaderLease,
        pacer: Pacer,
        picker: AgentPicker,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.pbx = pbx
        self.lease = lease
        self.pacer = pacer
        self.picker = picker
        self.clock = clock
        self.inflight: dict[int, InFlight] = {}
        # Attempt rows are read and changed by the OriginateResponse, the call's events and
        # reconciliation, each in a worker thread. PostgreSQL serialises them with FOR
        # UPDATE; SQLite ignores FOR UPDATE and starts its transaction only at the first
        # write, so a settlement could be overwritten by a stale read: one lock per
        # dialler (the only writer of its attempts) keeps them in order on both.
        self._rows = threading.Lock()
        # Called when an attempt's pacing slot is free again (the service dispatches then).
        self.on_slot_freed: Callable[[], None] | None = None
        # Attempts whose originate() raised: sent or not, only the PBX can tell.
        self.in_doubt: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        ring = RingPolicy.from_settings(settings.ring)
        self.originate_timeout = settings.scheduler.originate_timeout_seconds or ring.deadline()

    # -- step 1: claim and write -------------------------------------------------------
    def prepare(self, task: PlannedTask, offer: AgentOffer | None) -> InFlight | None:
        """Claim ``task`` and commit its attempt; None when another scheduler has it."""
        epoch = self.lease.epoch
        if epoch is None:
            return None
        mode = self.settings.scheduler.mode
        now = self.clock()
        try:
            with self.sessions() as s, s.begin():
                claimed = s.execute(
                    update(OutboundTask)
                    .where(
                        OutboundTask.id == task.id,
                        OutboundTask.status == TaskStatus.PENDING,
                        OutboundTask.attempts < OutboundTask.max_attempts,
                    )
                    .values(
                        status=TaskStatus.DIALLING,
                        attempts=OutboundTask.attempts + 1,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                ).rowcount
                if claimed != 1:
                    return None
                attempt = OutboundAttempt(
                    task_id=task.id,
                    agent_id=offer.agent_id if offer else task.agent_id,
                    epoch=epoch,
                    mode=mode,
                    state=AttemptState.PREPARED,
                    started_at=now,
                    agent_failed=False,
                    detail="",
                )
                s.add(attempt)
                s.flush()
                attempt.action_id = action_id_for(attempt.id)
                s.flush()
                attempt_id = attempt.id
        except IntegrityError:
            # Another scheduler holds an open attempt for this task (the unique index).
            log.warning("task %d already has an open attempt; not dialled", task.id)
            return None
        flight = InFlight(attempt_id, task.id, mode, offer)
        self.inflight[attempt_id] = flight
        return flight

    def fail_invalid_number(self, task: PlannedTask) -> bool:
        """Fail a task whose number phonenumbers rejects, without dialling (issue 7)."""
        now = self.clock()
        with self.sessions() as s, s.begin():
            claimed = s.execute(
                update(OutboundTask)
                .where(OutboundTask.id == task.id, OutboundTask.status == TaskStatus.PENDING)
                .values(status=TaskStatus.DIALLING, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                return False
            attempt = OutboundAttempt(
                task_id=task.id,
                agent_id=task.agent_id,
                epoch=self.lease.epoch or 0,
                mode=self.settings.scheduler.mode,
                state=AttemptState.PREPARED,
                started_at=now,
                agent_failed=False,
                detail="",
            )
            s.add(attempt)
            s.flush()
            settle(
                s, attempt, CallOutcome.INVALID_NUMBER, settings=self.settings, now=now,
                detail=f"{task.phone} is not a valid number: not dialled",
            )
        log.warning("task %d: %s is not a valid number; failed without dialling", task.id, task.phone)
        return True

    # -- step 2: send once -------------------------------------------------------------
    def start(self, flight: InFlight, task: PlannedTask) -> None:
        """Dial ``flight`` in the background (the dispatcher goes on with the next task)."""
        job = asyncio.get_running_loop().create_task(
            self.dial(flight, task), name=f"attempt-{flight.attempt_id}"
        )
        self._tasks.add(job)
        job.add_done_callback(self._tasks.discard)

    def originate_args(self, flight: InFlight, task: PlannedTask) -> dict[str, object]:
        region = self.settings.default_region
        digits = dial_digits(task.phone, region)
        variables = {
            ATTEMPT_VARIABLE: str(flight.attempt_id),
            "HOTLINE_TASK_ID": str(task.id),
            "HOTLINE_TASK_TYPE": task.type.value,
        }
        if flight.mode == "agent_first":
            assert flight.offer is not None
            return {
                "action_id": action_id_for(flight.attempt_id),
                "channel": flight.offer.interface,
                "context": AGENT_FIRST_CONTEXT,
                "exten": digits,
                "priority": 1,
                "timeout": self.originate_timeout,
                # What the agent's phone shows: whom the call is for.
                "caller_id": f'"{task.type.value} {digits}" <{digits}>',
                "variables": variables,
            }
        if task.agent_id is not None:
            variables["HOTLINE_AGENT_ID"] = str(task.agent_id)
        return {
            "action_id": action_id_for(flight.attempt_id),
            "channel": f"PJSIP/{digits}@carrier",
            "context": CUSTOMER_FIRST_CONTEXT,
            "exten": "s",
            "priority": 1,
            "timeout": self.originate_timeout,
            "caller_id": self.settings.scheduler.caller_id,
            "variables": variables,
        }

    async def dial(self, flight: InFlight, task: PlannedTask) -> None:
        args = self.originate_args(flight, task)
        await self.pacer.wait_rate()
        if not self.lease.valid():
            # Known not sent, and it never will be: settle it so, giving the try back.
            log.warning("attempt %d not sent: leader lease no longer valid", flight.attempt_id)
            await asyncio.to_thread(
                self._settle_by_id, flight.attempt_id, CallOutcome.FAILED, not_dialled=True,
                detail="not sent: the leader lease was not valid at the send",
            )
            await self._drop(flight, sent=False)
            return
        try:
            result = await self.pbx.originate(**args)  # type: ignore[arg-type]
        except Exception as exc:
            log.error("attempt %d: originate failed (%s); outcome unknown, resolving from the "
                      "PBX", flight.attempt_id, exc)
            self.in_doubt.add(flight.attempt_id)
            await self._drop(flight, sent=None)
            return
        try:
            await self._on_originate_result(flight, result)
        except SQLAlchemyError as exc:
            # The PBX answered but the database is away (PostgreSQL restarting): the attempt
            # was sent, its row still says so. Left in flight it would never be resolved; in
            # doubt, recovery settles it from the PBX and the stored calls once the database
            # is back, and it is never re-sent.
            log.error("attempt %d: the OriginateResponse (reason %s) could not be stored (%s); "
                      "resolving from the PBX once the database is back", flight.attempt_id,
                      result.reason, exc)
            self.in_doubt.add(flight.attempt_id)
            await self._drop(flight, sent=None)

    # -- step 3: settle ------------------------------------------------------------------
    def _record_result(self, flight: InFlight, result: OriginateResult) -> tuple[bool, bool]:
        """Store the OriginateResponse; returns (settled, customer_answered)."""
        now = self.clock()
        with self._rows, self.sessions() as s, s.begin():
            attempt = s.get(OutboundAttempt, flight.attempt_id, with_for_update=True)
            assert attempt is not None
            attempt.originate_reason = result.reason
            attempt.sent_at = attempt.sent_at or now
            if result.channel and not result.channel.startswith("<"):
                attempt.channel = result.channel
            if result.uniqueid and not result.uniqueid.startswith("<"):
                attempt.uniqueid = result.uniqueid
            if attempt.state is AttemptState.SETTLED:
                # the call's own events were quicker (the customer answered or was busy)
                return True, attempt.outcome is CallOutcome.ANSWERED
            if flight.mode == "agent_first":
                if result.reason == 4:
                    attempt.state = AttemptState.CONNECTED
                    attempt.connected_at = now
                    return False, False
                settle(
                    s, attempt, CallOutcome.FAILED, settings=self.settings, now=now,
                    agent_failed=True,
                    detail=f"agent's phone did not take the call (reason {result.reason})",
                )
                return True, False
            outcome = outcome_of_reason(result.reason)
            settle(s, attempt, outcome, settings=self.settings, now=now,
                   detail=f"OriginateResponse reason {result.reason}")
            return True, outcome is CallOutcome.ANSWERED

    async def _on_originate_result(self, flight: InFlight, result: OriginateResult) -> None:
        settled, answered = await asyncio.to_thread(self._record_result, flight, result)
        flight.responded = True
        flight.settled = flight.settled or settled
        flight.customer_up = flight.customer_up or answered
        if result.reason != 4 and flight.mode == "agent_first" and not answered:
            flight.agent_failed = True
        if result.reason != 4:
            # Nobody picked up: no call goes on, its channel is gone.
            await self._finish(flight)
        elif flight.ended:
            # The call was over before this response was handled (a busy customer).
            await self._end(flight)
        # Otherwise the call goes on (the customer answered, customer first; the agent
        # answered, agent first): its end, from the bridge's record or from the PBX's
        # channels, settles what is left and frees its slot.

    def _settle_by_id(
        self, attempt_id: int, outcome: CallOutcome, *, agent_failed: bool = False,
        not_dialled: bool = False, no_retry: bool = False, detail: str = "",
    ) -> bool:
        with self._rows, self.sessions() as s, s.begin():
            attempt = s.get(OutboundAttempt, attempt_id, with_for_update=True)
            if attempt is None or attempt.state is AttemptState.SETTLED:
                return False
            settle(s, attempt, outcome, settings=self.settings, now=self.clock(),
                   agent_failed=agent_failed, not_dialled=not_dialled, no_retry=no_retry,
                   detail=detail)
            return True

    async def _settle_verdict(self, attempt_id: int, verdict: Verdict) -> None:
        await asyncio.to_thread(
            self._settle_by_id, attempt_id, verdict.outcome, agent_failed=verdict.agent_failed,
            no_retry=verdict.no_retry, detail=verdict.detail,
        )
        flight = self.inflight.get(attempt_id)
        if flight is not None:
            flight.settled = True
            flight.agent_failed = flight.agent_failed or verdict.agent_failed
            flight.customer_up = flight.customer_up or verdict.outcome is CallOutcome.ANSWERED

    async def on_call_record(self, record: CallRecord) -> None:
        """The bridge's latest record of an attempt's call (``CallUpdated``): the customer's
        outcome as soon as it shows, and the end of the call."""
        if record.attempt_id is None:
            return
        flight = self.inflight.get(record.attempt_id)
        if flight is None:
            # Not followed here: another leader's attempt, or one already finished. An
            # orphan is resolved by reconcile(), from the PBX or from the stored call.
            return
        flight.record = record
        if not flight.settled:
            known = customer_outcome(record.legs, flight.mode)
            if known is not None:
                await self._settle_verdict(flight.attempt_id, known)
        if record.ended_at is not None:
            flight.ended = True
            if flight.responded or flight.adopted:
                await self._end(flight)
            # (else the OriginateResponse is still being handled; it ends the flight)

    async def on_customer_dial_end(self, attempt_id: int, dialstatus: str) -> None:
        """Agent first: the Dial of the customer's leg ended (DialEnd ``DialStatus``). The
        bridge's records carry the same, see :meth:`on_call_record`."""
        status = dialstatus.upper()
        verdict = Verdict(
            DIALSTATUS_OUTCOMES.get(status, CallOutcome.FAILED),
            f"customer leg DIALSTATUS {dialstatus}",
            agent_failed=status == "CANCEL",  # the agent hung up first
        )
        await self._settle_verdict(attempt_id, verdict)

    async def on_attempt_ended(self, attempt_id: int) -> None:
        """Every channel of the attempt hung up: its pacing slot and agent are free."""
        flight = self.inflight.get(attempt_id)
        if flight is None:
            return
        flight.ended = True
        if flight.responded or flight.adopted:
            await self._end(flight)

    async def _end(self, flight: InFlight) -> None:
        """The call is over: settle what is still open from what was seen of it, free the
        slot."""
        if not flight.settled:
            verdict = None
            if flight.customer_up:
                verdict = Verdict(CallOutcome.ANSWERED, "customer leg seen up on the PBX")
            elif flight.record is not None:
                verdict = judge(flight.record, flight.record.legs, flight.mode, gone=True)
            if verdict is None:
                verdict = Verdict(CallOutcome.FAILED, "call ended before its result was reported")
            await self._settle_verdict(flight.attempt_id, verdict)
        await self._finish(flight)

    async def _finish(self, flight: InFlight) -> None:
        if self.inflight.pop(flight.attempt_id, None) is None:
            return
        if flight.offer is not None:
            self.picker.finished(flight.offer, agent_failed=flight.agent_failed)
        await self.pacer.release()
        if self.on_slot_freed is not None:
            self.on_slot_freed()

    async def _drop(self, flight: InFlight, *, sent: bool | None) -> None:
        """Stop following ``flight`` without settling it (recovery resolves it)."""
        if self.inflight.pop(flight.attempt_id, None) is None:
            return
        if flight.offer is not None:
            if sent is False:
                self.picker.release(flight.offer)
            else:
                self.picker.finished(flight.offer)
        await self.pacer.release()
        if self.on_slot_freed is not None:
            self.on_slot_freed()

    # -- step 4: resolve from the PBX ----------------------------------------------------
    def _orphans(self, own_grace_over: bool) -> list[OutboundAttempt]:
        epoch = self.lease.epoch
        if epoch is None:
            return []
        with self.sessions() as s:
            rows = s.scalars(
                select(OutboundAttempt).where(OutboundAttempt.state != AttemptState.SETTLED)
            ).all()
        found = []
        for a in rows:
            if a.id in self.inflight:
                continue
            if a.epoch < epoch and not own_grace_over:
                continue
            if a.epoch == epoch and a.id not in self.in_doubt:
                continue  # written by this leader and still between step 1 and step 2
            found.append(a)
        return found

    def _adopt(self, attempt_id: int, channel: Mapping[str, object]) -> None:
        now = self.clock()
        with self._rows, self.sessions() as s, s.begin():
            attempt = s.get(OutboundAttempt, attempt_id, with_for_update=True)
            if attempt is None or attempt.state is not AttemptState.PREPARED:
                return
            attempt.state = AttemptState.SENT
            attempt.sent_at = now
            attempt.channel = str(channel.get("Channel") or "")[:128] or None
            attempt.uniqueid = str(channel.get("Uniqueid") or "")[:64] or None
            attempt.detail = "found on the PBX after a restart"

    def _resolve_gone(self, attempt_id: int) -> None:
        """An orphan attempt with no channel on the PBX: judged from the bridge's stored call
        (proof that it was dialled, and how far it got), else known never to have rung."""
        now = self.clock()
        with self._rows, self.sessions() as s, s.begin():
            attempt = s.get(OutboundAttempt, attempt_id, with_for_update=True)
            if attempt is None or attempt.state is AttemptState.SETTLED:
                return
            was = attempt.state.value
            call = s.scalars(
                select(Call).where(Call.attempt_id == attempt_id).order_by(Call.id.desc())
            ).first()
            if call is None:
                settle(s, attempt, CallOutcome.FAILED, settings=self.settings, now=now,
                       detail=f"not found on the PBX nor among stored calls when resolved "
                              f"(was {was}); never re-sent")
                log.warning("attempt %d (%s): no channel, no stored call: settled failed, "
                            "never re-sent", attempt_id, was)
                return
            legs = s.scalars(select(CallLeg).where(CallLeg.call_id == call.id)).all()
            verdict = judge(call, legs, attempt.mode, gone=True)
            assert verdict is not None
            settle(s, attempt, verdict.outcome, settings=self.settings, now=now,
                   agent_failed=verdict.agent_failed, no_retry=verdict.no_retry,
                   detail=f"resolved from stored call {call.id} (was {was}): {verdict.detail}")
            log.warning("attempt %d (%s) resolved from its stored call %d: %s; never re-sent",
                        attempt_id, was, call.id, verdict.outcome.value)

    def _agent_interface(self, agent_id: int | None) -> str | None:
        if agent_id is None:
            return None
        with self.sessions() as s:
            return s.scalar(select(Agent.interface).where(Agent.id == agent_id))

    def _customer_leg_up(
        self, mode: str, agent_interface: str | None, channels: list[Mapping[str, object]]
    ) -> bool:
        for ch in channels:
            name = str(ch.get("Channel", ""))
            if mode == "agent_first" and agent_interface and name.startswith(agent_interface + "-"):
                continue
            if str(ch.get("ChannelState", "")) == CHANNEL_UP:
                return True
        return False

    async def reconcile(self) -> None:
        """Compare what this dialler follows and what nobody follows with the PBX's live
        channels: adopt found calls, resolve vanished ones, free slots of finished calls."""
        if self.lease.epoch is None:
            return
        grace_over = self.lease.seconds_since_acquired() >= self.lease.lease_seconds
        orphans = await asyncio.to_thread(self._orphans, grace_over)
        watching = [f for f in self.inflight.values() if f.responded or f.adopted]
        if not orphans and not watching:
            return
        try:
            snapshot = await self.pbx.core_show_channels()
        except Exception as exc:
            log.warning("cannot read the PBX's channels (%s); resolving later", exc)
            return
        by_attempt: dict[int, list[Mapping[str, object]]] = {}
        by_uniqueid: dict[str, Mapping[str, object]] = {}
        for ch in snapshot:
            aid = attempt_id_of(ch)
            if aid is not None:
                by_attempt.setdefault(aid, []).append(ch)
            if ch.get("Uniqueid"):
                by_uniqueid[str(ch["Uniqueid"])] = ch
        for attempt in orphans:
            channels = list(by_attempt.get(attempt.id, []))
            if not channels and attempt.uniqueid and attempt.uniqueid in by_uniqueid:
                channels = [by_uniqueid[attempt.uniqueid]]
            self.in_doubt.discard(attempt.id)
            if channels:
                await self._adopt_live(attempt, channels)
            else:
                await asyncio.to_thread(self._resolve_gone, attempt.id)
        # Calls this dialler follows: note what is up, finish what is gone.
        for flight in list(self.inflight.values()):
            if not (flight.responded or flight.adopted):
                continue
            channels = by_attempt.get(flight.attempt_id, [])
            if channels:
                flight.seen_on_pbx = True
                flight.missing = 0
                if not flight.customer_up:
                    interface = flight.offer.interface if flight.offer else None
                    if self._customer_leg_up(flight.mode, interface, channels):
                        flight.customer_up = True
                        if not flight.settled:
                            await self._settle_verdict(flight.attempt_id, Verdict(
                                CallOutcome.ANSWERED, "customer leg seen up on the PBX"))
                continue
            # Gone from the PBX. The bridge's record of the end (and of the customer's dial
            # status) may still be on its way through the bus: judge on the second look.
            flight.missing += 1
            if flight.missing >= 2 or flight.ended:
                await self._end(flight)

    async def _adopt_live(self, attempt: OutboundAttempt, channels: list[Mapping[str, object]]) -> None:
        await asyncio.to_thread(self._adopt, attempt.id, channels[0])
        interface = await asyncio.to_thread(self._agent_interface, attempt.agent_id)
        flight = InFlight(attempt.id, attempt.task_id, attempt.mode, None, adopted=True,
                          responded=True, seen_on_pbx=True)
        self.inflight[attempt.id] = flight
        self.pacer.adopt()
        log.warning("attempt %d found live on the PBX after a restart: adopted, not redialled",
                    attempt.id)
        if self._customer_leg_up(attempt.mode, interface, channels):
            flight.customer_up = True
            await self._settle_verdict(attempt.id, Verdict(
                CallOutcome.ANSWERED, "customer leg seen up on the PBX after a restart"))

    async def close(self) -> None:
        """Wait for the sends in progress (used on shutdown; calls stay up on the PBX)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
