"""Persistence of what the bridge learns: calls, legs, agent states, dropped-call callbacks.

The writer is a bus subscriber whose handler only files the event (never blocks, never
touches the database). A worker task takes what is filed in batches — when ``batch_size``
items are waiting or ``max_delay`` after the first one — and writes each batch in a worker
thread, one transaction per batch, never on the event loop.

Records are whole (:class:`CallRecord` carries every field and leg), so a newer record of a
call replaces an older one still waiting: a burst of events about one call costs one row
write, and writing is idempotent (upsert by ``(pbx, linkedid)`` and ``(pbx, uniqueid)``),
which makes retrying a batch after a failure safe.

If the database is unreachable, nothing is thrown away: the batch goes back to the front and
is retried with back-off while new items keep being filed. What is filed is bounded
(``max_pending`` calls): past it, the oldest record of a call that is still in progress is
dropped first (its final record, which replaces it, will come), then the oldest finished
call — every drop counted and logged. A row the database refuses (a constraint) is isolated
by retrying the batch item by item, logged, counted and skipped, so one bad record never
blocks the rest. ``stop()`` writes everything filed before it returns.

Two things come from other tables, in the same transaction: a call's ``customer_id`` (the
customer whose phone is the caller's E.164 number; one indexed lookup per batch, filled in
as soon as the card exists, never overwriting one already set), and the ``dropped-call``
callback of an abnormal end, which the scheduler's rule
(:func:`scheduler.rules.dropped_call.create_dropped_call_task`) decides and stores: one rule
for its window, deadline and dedupe key, whoever reports the drop first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from hotline.db.errors import first_line
from hotline.db.models import Agent, Call, CallLeg, Customer, OutboundTask
from hotline.domain.events import (
    AgentStateChanged,
    CallEnded,
    CallRecord,
    CallUpdated,
    DomainEvent,
    LegRecord,
)
from hotline.domain.phone import try_normalize_phone
from hotline.settings import Settings
from scheduler.rules.dropped_call import create_dropped_call_task, dropped_call_key
from scheduler.windows import WindowPolicy

log = logging.getLogger(__name__)

_CALL_FIELDS = (
    "uniqueid", "direction", "caller_number", "dialled_number", "category", "queue",
    "arrived_at", "ringing_at", "answered_at", "agent_answered_at", "ended_at",
    "rings_at_answer", "answered_by_agent_id", "disposition", "hangup_cause",
    "hangup_cause_text", "end_reason", "abnormal_end", "attempt_id",
)
_LEG_FIELDS = (
    "channel", "role", "agent_id", "created_at", "ringing_at", "answered_at", "ended_at",
    "rings_at_answer", "dial_status", "hangup_cause", "hangup_cause_text",
)
# What an adopted record (CallRecord.adopted) may tell better than the stored row: how the
# call or leg ended, which happened after the adoption. Every other stored value is kept.
_CALL_ENDING = frozenset({
    "ended_at", "disposition", "hangup_cause", "hangup_cause_text", "end_reason", "abnormal_end",
})
_LEG_ENDING = frozenset({"ended_at", "hangup_cause", "hangup_cause_text"})


@dataclass(frozen=True)
class DroppedCall:
    pbx: str
    linkedid: str
    agent_id: int | None
    caller_number: str | None
    at: dt.datetime


@dataclass(frozen=True)
class AgentRow:
    agent_id: int
    state: str
    reason: str | None
    at: dt.datetime


@dataclass
class Batch:
    calls: list[CallRecord] = field(default_factory=list)
    agents: list[AgentRow] = field(default_factory=list)
    dropped: list[DroppedCall] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls) + len(self.agents) + len(self.dropped)

    def items(self) -> Iterable[Batch]:
        for c in self.calls:
            yield Batch(calls=[c])
        for a in self.agents:
            yield Batch(agents=[a])
        for d in self.dropped:
            yield Batch(dropped=[d])


@dataclass
class WriterStats:
    filed: int = 0
    batches: int = 0
    calls_written: int = 0
    legs_written: int = 0
    agents_written: int = 0
    callbacks_created: int = 0
    coalesced: int = 0
    dropped_overflow: int = 0
    rejected: int = 0
    failures: int = 0
    not_callable: int = 0
    write_seconds: float = 0.0


class _Outage(Exception):
    """The database could not be reached; the batch must be kept and retried."""


class CallWriter:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        batch_size: int = 500,
        max_delay: float = 0.02,
        max_pending: int = 100_000,
        retry_min: float = 0.2,
        retry_max: float = 10.0,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.region = settings.default_region
        self._windows = WindowPolicy(settings)
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.max_pending = max_pending
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.stats = WriterStats()
        self._calls: OrderedDict[tuple[str, str], CallRecord] = OrderedDict()
        self._agents: OrderedDict[int, AgentRow] = OrderedDict()
        self._dropped: list[DroppedCall] = []
        self._retry: Batch | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_overflow_log = 0.0
        self._last_reject_log = 0.0
        self._unknown_agents: set[int] = set()
        self.healthy = True

    # -- filing (the bus handler: fast, never blocks) -----------------------------------------

    @property
    def pending(self) -> int:
        return len(self._calls) + len(self._agents) + len(self._dropped) + (len(self._retry) if self._retry else 0)

    def handle(self, event: DomainEvent) -> None:
        if isinstance(event, CallUpdated):
            self._file_call(event.record)
        elif isinstance(event, AgentStateChanged):
            if event.agent_id is not None:
                self._agents[event.agent_id] = AgentRow(event.agent_id, event.state, event.reason, event.at)
                self._agents.move_to_end(event.agent_id)
                self._filed()
        elif isinstance(event, CallEnded) and event.abnormal:
            linkedid = event.call_key.rpartition(":")[2]
            self._dropped.append(
                DroppedCall(event.pbx, linkedid, event.agent_id, event.caller_number, event.at)
            )
            self._filed()

    def _file_call(self, record: CallRecord) -> None:
        key = (record.pbx, record.linkedid)
        if key in self._calls:
            self.stats.coalesced += 1
            self._calls[key] = record
            self._calls.move_to_end(key)
        else:
            self._calls[key] = record
            if len(self._calls) > self.max_pending:
                self._overflow()
        self._filed()

    def _filed(self) -> None:
        self.stats.filed += 1
        self._idle.clear()
        self._wake.set()

    def _overflow(self) -> None:
        victim = next((k for k, r in self._calls.items() if r.ended_at is None), None)
        if victim is None:
            victim = next(iter(self._calls))
        lost = self._calls.pop(victim)
        self.stats.dropped_overflow += 1
        now = time.monotonic()
        if now - self._last_overflow_log > 1.0:
            self._last_overflow_log = now
            log.error(
                "call writer full (%d calls waiting for the database): dropped the record of "
                "%s (%s); %d dropped so far",
                self.max_pending, lost.call_key, "in progress" if lost.ended_at is None else "FINISHED",
                self.stats.dropped_overflow,
            )

    # -- the worker -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="call-writer")

    async def stop(self, timeout: float = 30.0) -> None:
        """Write everything filed so far (giving up after ``timeout`` if the database is
        down), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
                log.error("call writer stopped with %d records not written (database down)", self.pending)
            self._task = None

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until everything filed so far is written."""
        self._wake.set()
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def _run(self) -> None:
        delay = self.retry_min
        while True:
            if not self.pending:
                self._idle.set()
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._retry is None and not self._stopping and self._small():
                # let a batch build up for a few milliseconds
                await asyncio.sleep(self.max_delay)
            batch = self._retry or self._take()
            self._retry = None
            try:
                await asyncio.to_thread(self._write_isolating, batch)
                delay = self.retry_min
                if not self.healthy:
                    log.warning("database reachable again: %d records caught up", len(batch))
                self.healthy = True
            except _Outage as exc:
                self._retry = batch
                self.stats.failures += 1
                if self.healthy:
                    log.error("database unreachable, keeping %d records and retrying: %s", self.pending, exc)
                self.healthy = False
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(self.retry_max, delay * 2)

    def _small(self) -> bool:
        return len(self._calls) + len(self._agents) + len(self._dropped) < self.batch_size

    def _take(self) -> Batch:
        batch = Batch()
        n = self.batch_size
        while self._calls and len(batch.calls) < n:
            batch.calls.append(self._calls.popitem(last=False)[1])
        while self._agents and len(batch.agents) < n:
            batch.agents.append(self._agents.popitem(last=False)[1])
        batch.dropped, self._dropped = self._dropped, []
        return batch

    # -- in the worker thread -----------------------------------------------------------------

    def _write_isolating(self, batch: Batch) -> None:
        started = time.perf_counter()
        try:
            self._write(batch)
        except _Outage:
            raise
        except Exception as exc:
            # a row the database refuses, or a fault of ours with one record: either way it
            # must not take the batch (or the worker) with it
            if len(batch) == 1:
                self.stats.rejected += 1
                now = time.monotonic()
                if now - self._last_reject_log > 1.0 or self.stats.rejected <= 10:
                    self._last_reject_log = now
                    refused = isinstance(exc, (IntegrityError, StatementError, ValueError))
                    log.error("the database refused a record, skipped: %s (%s); %d so far",
                              _describe(batch), first_line(exc), self.stats.rejected,
                              exc_info=None if refused else exc)
                return
            for one in batch.items():
                self._write_isolating(one)
            return
        finally:
            self.stats.write_seconds += time.perf_counter() - started
        self.stats.batches += 1

    def _write(self, batch: Batch) -> None:
        try:
            with self.engine.begin() as conn:
                ids = self._write_calls(conn, batch.calls)
                self._write_agents(conn, batch.agents)
                self._write_dropped(conn, batch.dropped, ids)
        except IntegrityError:
            raise
        except DBAPIError as exc:
            if isinstance(exc.orig, _DATA_ERRORS):
                raise
            raise _Outage(first_line(exc)) from exc
        except OSError as exc:
            raise _Outage(str(exc)) from exc
        self.stats.calls_written += len(batch.calls)
        self.stats.agents_written += len(batch.agents)

    def _write_calls(self, conn: Any, records: list[CallRecord]) -> dict[tuple[str, str], int]:
        if not records:
            return {}
        ids: dict[tuple[str, str], int] = {}
        has_customer: dict[int, int | None] = {}
        by_pbx: dict[str, list[CallRecord]] = {}
        for rec in records:
            by_pbx.setdefault(rec.pbx, []).append(rec)
        for pbx, recs in by_pbx.items():
            found = conn.execute(
                select(Call.linkedid, Call.id, Call.customer_id).where(
                    Call.pbx == pbx, Call.linkedid.in_([r.linkedid for r in recs])
                )
            ).all()
            for linkedid, call_id, customer_id in found:
                ids[(pbx, linkedid)] = call_id
                has_customer[call_id] = customer_id
        records = self._known_agents_only(conn, records)
        customers = self._customers(conn, records)
        new = [r for r in records if (r.pbx, r.linkedid) not in ids]
        old = [r for r in records if (r.pbx, r.linkedid) in ids]
        if new:
            rows = [
                dict(_call_values(r), pbx=r.pbx, linkedid=r.linkedid,
                     customer_id=customers.get(r.caller_number or ""))
                for r in new
            ]
            for linkedid, pbx, call_id in conn.execute(
                insert(Call).returning(Call.linkedid, Call.pbx, Call.id, sort_by_parameter_order=True),
                rows,
            ):
                ids[(pbx, linkedid)] = call_id
        if old:
            stored = _stored(conn, Call, _CALL_FIELDS, [ids[(r.pbx, r.linkedid)] for r in old if r.adopted])
            rows = []
            for r in old:
                call_id = ids[(r.pbx, r.linkedid)]
                # a card made during the call is linked by the next record; one already
                # linked (by hand, or to another card since) stays as it is
                known = has_customer.get(call_id)
                customer_id = known if known is not None else customers.get(r.caller_number or "")
                values = _call_values(r)
                if call_id in stored:
                    values = _merged(values, stored[call_id], _CALL_ENDING)
                rows.append(dict(values, customer_id=customer_id, _id=call_id))
            conn.execute(update(Call).where(Call.id == bindparam("_id")), rows)
        self._write_legs(conn, records, ids)
        return ids

    def _customers(self, conn: Any, records: list[CallRecord]) -> dict[str, int]:
        """Customer id by E.164 phone for the callers of these records (one query)."""
        numbers = {r.caller_number for r in records if r.caller_number and r.caller_number[0] == "+"}
        if not numbers:
            return {}
        return dict(conn.execute(select(Customer.phone, Customer.id).where(Customer.phone.in_(numbers))).all())

    def _known_agents_only(self, conn: Any, records: list[CallRecord]) -> list[CallRecord]:
        """Records whose agents are all in the database; an agent the bridge still knew but
        the database no longer has (deleted meanwhile) is left out of the record rather than
        costing the whole call."""
        wanted = {r.answered_by_agent_id for r in records} | {
            leg.agent_id for r in records for leg in r.legs
        }
        wanted.discard(None)
        if not wanted:
            return records
        have = set(conn.execute(select(Agent.id).where(Agent.id.in_(wanted))).scalars())
        missing = wanted - have
        if not missing:
            return records
        for agent_id in missing - self._unknown_agents:
            log.warning("agent %s is not in the database: calls keep no reference to it", agent_id)
        self._unknown_agents |= missing

        def known(agent_id: int | None) -> int | None:
            return None if agent_id in missing else agent_id

        return [
            dataclasses.replace(
                r, answered_by_agent_id=known(r.answered_by_agent_id),
                legs=tuple(dataclasses.replace(leg, agent_id=known(leg.agent_id)) for leg in r.legs),
            )
            for r in records
        ]

    def _write_legs(self, conn: Any, records: list[CallRecord], ids: dict[tuple[str, str], int]) -> None:
        legs = [(r.pbx, ids[(r.pbx, r.linkedid)], leg) for r in records for leg in r.legs]
        if not legs:
            return
        adopted = {(r.pbx, leg.uniqueid) for r in records if r.adopted for leg in r.legs}
        existing: dict[tuple[str, str], int] = {}
        pbxs = {pbx for pbx, _cid, _leg in legs}
        for pbx in pbxs:
            uids = [leg.uniqueid for p, _cid, leg in legs if p == pbx]
            for uid, leg_id in conn.execute(
                select(CallLeg.uniqueid, CallLeg.id).where(CallLeg.pbx == pbx, CallLeg.uniqueid.in_(uids))
            ):
                existing[(pbx, uid)] = leg_id
        stored = _stored(conn, CallLeg, _LEG_FIELDS, [existing[k] for k in adopted if k in existing])
        new_rows, old_rows = [], []
        for pbx, call_id, leg in legs:
            values = {f: getattr(leg, f) for f in _LEG_FIELDS}
            leg_id = existing.get((pbx, leg.uniqueid))
            if leg_id is None:
                new_rows.append(dict(values, pbx=pbx, uniqueid=leg.uniqueid, call_id=call_id))
            else:
                if leg_id in stored:
                    values = _merged(values, stored[leg_id], _LEG_ENDING)
                old_rows.append(dict(values, _id=leg_id, call_id=call_id))
        if new_rows:
            conn.execute(insert(CallLeg), new_rows)
        if old_rows:
            conn.execute(update(CallLeg).where(CallLeg.id == bindparam("_id")), old_rows)
        self.stats.legs_written += len(legs)

    def _write_agents(self, conn: Any, rows: list[AgentRow]) -> None:
        if not rows:
            return
        conn.execute(
            update(Agent).where(Agent.id == bindparam("_id")),
            [
                {"_id": r.agent_id, "state": r.state, "pause_reason": r.reason, "state_changed_at": r.at}
                for r in rows
            ],
        )

    def _write_dropped(self, conn: Any, dropped: list[DroppedCall], ids: dict[tuple[str, str], int]) -> None:
        """Each dropped call's callback, as the scheduler's rule decides it, in this batch's
        transaction. A task someone else stored first (the scheduler reacts to the same
        ``CallEnded`` on the bus, before the call row exists) gets the call and the customer
        it could not know yet."""
        if not dropped:
            return
        session = Session(bind=conn)  # joins this transaction; never commits it
        try:
            for d in dropped:
                agent_id = None if d.agent_id in self._unknown_agents else d.agent_id
                call_id = ids.get((d.pbx, d.linkedid))
                if call_id is None:
                    call_id = conn.execute(
                        select(Call.id).where(Call.pbx == d.pbx, Call.linkedid == d.linkedid)
                    ).scalar_one_or_none()
                customer_id = None
                if call_id is not None:
                    customer_id = conn.execute(
                        select(Call.customer_id).where(Call.id == call_id)
                    ).scalar_one_or_none()
                task_id = create_dropped_call_task(
                    session, self.settings, pbx=d.pbx, linkedid=d.linkedid,
                    caller_number=d.caller_number, agent_id=agent_id, ended_at=d.at,
                    call_id=call_id, customer_id=customer_id, policy=self._windows,
                )
                if task_id is not None:
                    self.stats.callbacks_created += 1
                    log.info("dropped call: callback task %d stored for agent %s (%s)",
                             task_id, agent_id, dropped_call_key(d.pbx, d.linkedid))
                elif try_normalize_phone(d.caller_number, self.region) is None:
                    self.stats.not_callable += 1
                elif call_id is not None:
                    conn.execute(
                        update(OutboundTask)
                        .where(OutboundTask.dedupe_key == dropped_call_key(d.pbx, d.linkedid),
                               OutboundTask.call_id.is_(None))
                        .values(call_id=call_id)
                    )
                    if customer_id is not None:
                        conn.execute(
                            update(OutboundTask)
                            .where(OutboundTask.dedupe_key == dropped_call_key(d.pbx, d.linkedid),
                                   OutboundTask.customer_id.is_(None))
                            .values(customer_id=customer_id)
                        )
        finally:
            session.close()


def _call_values(r: CallRecord) -> dict[str, Any]:
    return {f: getattr(r, f) for f in _CALL_FIELDS}


def _stored(conn: Any, table: Any, fields: tuple[str, ...], row_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stored values of these rows (by id): what an adopted record is merged into."""
    if not row_ids:
        return {}
    columns = [getattr(table, f) for f in fields]
    return {
        row[0]: dict(zip(fields, row[1:], strict=True))
        for row in conn.execute(select(table.id, *columns).where(table.id.in_(row_ids)))
    }


def _merged(new: dict[str, Any], stored: dict[str, Any], ending: frozenset[str]) -> dict[str, Any]:
    """An adopted record over its stored row: a value known there is kept (a time is never
    moved to an estimate, an outcome never forgotten), an unknown one filled in; only how it
    ended comes from the record, when the record knows it."""
    merged = {}
    for name, value in new.items():
        old = stored.get(name)
        if name in ending:
            merged[name] = value if value is not None else old
        else:
            merged[name] = old if old is not None else value
    return merged


def _text(value: Any) -> Any:
    return getattr(value, "value", value)


def open_call_records(
    engine: Engine, pbx: str, *, exclude: frozenset[str] = frozenset(), limit: int = 10_000
) -> list[CallRecord]:
    """The stored records of ``pbx``'s calls still open (as a bridge that stopped left them),
    whose linkedid is not in ``exclude``, for :meth:`ami_bridge.state.CallTracker.restore`.
    Blocking: run it in a worker thread."""
    with engine.connect() as conn:
        calls = [
            row for row in conn.execute(
                select(Call.id, Call.linkedid, *(getattr(Call, f) for f in _CALL_FIELDS))
                .where(Call.pbx == pbx, Call.ended_at.is_(None))
                .order_by(Call.id).limit(limit)
            )
            if row[1] not in exclude
        ]
        if not calls:
            return []
        legs: dict[int, list[LegRecord]] = {row[0]: [] for row in calls}
        for row in conn.execute(
            select(CallLeg.call_id, CallLeg.uniqueid, *(getattr(CallLeg, f) for f in _LEG_FIELDS))
            .where(CallLeg.call_id.in_(list(legs))).order_by(CallLeg.id)
        ):
            values = {f: _text(v) for f, v in zip(_LEG_FIELDS, row[2:], strict=True)}
            legs[row[0]].append(LegRecord(uniqueid=row[1], **values))
    return [
        CallRecord(pbx=pbx, linkedid=row[1], legs=tuple(legs[row[0]]),
                   **{f: _text(v) for f, v in zip(_CALL_FIELDS, row[2:], strict=True)})
        for row in calls
    ]



def _describe(batch: Batch) -> str:
    if batch.calls:
        return f"call {batch.calls[0].call_key}"
    if batch.agents:
        return f"agent {batch.agents[0].agent_id}"
    return f"dropped-call callback {batch.dropped[0].linkedid}"


def _data_errors() -> tuple[type[BaseException], ...]:
    """DBAPI exception classes that mean "this row is wrong", not "the database is away"."""
    found: list[type[BaseException]] = []
    import sqlite3

    # (ProgrammingError is not among them: a missing table is the schema's fault, and the
    # records must wait for a migration rather than be thrown away)
    found += [sqlite3.IntegrityError, sqlite3.DataError]
    try:
        import psycopg

        found += [psycopg.DataError, psycopg.IntegrityError]
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(found)


_DATA_ERRORS = _data_errors()
