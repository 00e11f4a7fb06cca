"""A populated hotline database for backup tests: every kind of value the schema stores
(aware times with microseconds, dates, decimals, JSON, Chinese text, NULLs) across calls,
customers, complaints, flags and kept recordings with their files."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import (
    AuditLog,
    Base,
    BlacklistEntry,
    Call,
    CallFlag,
    CallLeg,
    CallNote,
    Complaint,
    Customer,
    CustomerPurchase,
    OutboundTask,
    Recording,
    ReturnVisit,
)
from hotline.domain.enums import (
    CallCategory,
    CallDirection,
    CallDisposition,
    ComplaintStatus,
    FlagSource,
    Gender,
    LegRole,
    NoteOutcome,
    RecordingReason,
    TaskType,
)
from recordings.store import RecordingStore
from tests.factories import make_user

T0 = dt.datetime(2026, 11, 20, 1, 2, 3, 456789, tzinfo=dt.UTC)


def populate(sessions: sessionmaker[Session], store: RecordingStore, *, calls: int = 12) -> None:
    assert calls >= 4, "the complaints, notes and recordings need four calls"
    with sessions() as s, s.begin():
        agent_user = make_user(s, "agent1001", "agent", extension="1001")
        lead = make_user(s, "lead", "team_leader")
        assert agent_user.agent is not None
        agent_id = agent_user.agent.id
        customers = []
        for i in range(5):
            c = Customer(phone=f"+861380000{i:04d}", name=f"客户{i}号", gender=Gender.FEMALE,
                         birthday=dt.date(1980 + i, 2, 29 - i), work_unit="深圳市美日通科技",
                         card_number=f"VIP-{i}" if i % 2 else None, is_vip=bool(i % 2),
                         notes="多行\n备注 'quoted' \"double\"", assigned_agent_id=agent_id,
                         assigned_at=T0, last_contact_at=T0 + dt.timedelta(hours=i))
            s.add(c)
            customers.append(c)
        s.flush()
        s.add(CustomerPurchase(customer_id=customers[1].id, department="家电",
                               amount=Decimal("12345.67"), purchased_at=T0))
        s.add(BlacklistEntry(phone="+8613900000666", reason="恶意投诉", added_by_id=lead.id))
        for n in range(calls):
            arrived = T0 + dt.timedelta(minutes=7 * n, microseconds=n)
            call = Call(pbx="pbx1", linkedid=f"1700000000.{n}", uniqueid=f"1700000000.{n}",
                        direction=CallDirection.INBOUND, caller_number=customers[n % 5].phone,
                        dialled_number="4008001234", customer_id=customers[n % 5].id,
                        category=CallCategory.COMPLAINT if n % 3 == 0 else CallCategory.INQUIRY,
                        arrived_at=arrived, ringing_at=arrived, answered_at=arrived
                        + dt.timedelta(seconds=11), agent_answered_at=arrived
                        + dt.timedelta(seconds=12), ended_at=arrived + dt.timedelta(minutes=3),
                        rings_at_answer=3, answered_by_agent_id=agent_id,
                        disposition=CallDisposition.ANSWERED, hangup_cause=16,
                        end_reason="caller-hangup")
            call.legs = [
                CallLeg(pbx="pbx1", uniqueid=f"1700000000.{n}", channel=f"PJSIP/carrier-{n:08x}",
                        role=LegRole.CALLER, created_at=arrived),
                CallLeg(pbx="pbx1", uniqueid=f"1700000001.{n}", channel=f"PJSIP/1001-{n:08x}",
                        role=LegRole.AGENT, agent_id=agent_id, created_at=arrived,
                        dial_status="ANSWER", rings_at_answer=2),
            ]
            s.add(call)
        s.flush()
        first_calls = list(s.scalars(select(Call).order_by(Call.id).limit(4)))
        for call in first_calls[:2]:
            s.add(CallNote(call_id=call.id, customer_id=call.customer_id,
                           author_id=agent_user.id, category=CallCategory.COMPLAINT,
                           content="客户投诉送水延误", outcome=NoteOutcome.ACCEPTED))
        visit = ReturnVisit(customer_id=customers[0].id, agent_user_id=agent_user.id,
                            card_number="VIP-0", name="客户0号", gender=Gender.FEMALE,
                            phone=customers[0].phone, work_unit="美日通", place="深圳",
                            visited_at=T0 + dt.timedelta(days=1), opinions="满意")
        s.add(visit)
        s.flush()
        s.add(Complaint(call_id=first_calls[0].id, customer_id=customers[0].id,
                        created_by_id=agent_user.id, owner_id=lead.id, description="送水延误",
                        received_at=T0, due_at=T0 + dt.timedelta(days=2),
                        status=ComplaintStatus.CLOSED, return_visit_id=visit.id,
                        replied_at=T0 + dt.timedelta(hours=5), closed_at=T0 + dt.timedelta(days=1)))
        s.add(Complaint(call_id=first_calls[3].id, customer_id=customers[3].id,
                        created_by_id=agent_user.id, description="服务态度",
                        received_at=T0, due_at=T0 + dt.timedelta(days=2)))
        s.add(OutboundTask(type=TaskType.DROPPED_CALL, phone=customers[2].phone,
                           agent_id=agent_id, call_id=first_calls[2].id, due_at=T0,
                           dedupe_key="dropped-call:pbx1:1700000000.2"))
        s.add(AuditLog(actor_id=lead.id, action="recording.listen", object_type="recording",
                       object_id="1", details={"format": "mp3", "嵌套": [1, 2.5, None]}))
        for i, call in enumerate(first_calls[:3]):
            reason = (RecordingReason.EXTORTION, RecordingReason.ABUSIVE, RecordingReason.OTHER)[i]
            s.add(CallFlag(call_key=f"pbx1:{call.linkedid}", call_id=call.id, reason=reason,
                           reason_text="威胁" if i != 1 else "", source=FlagSource.API,
                           flagged_by_id=agent_user.id, flagged_at=call.ended_at))
            add_recording(s, store, call, reason=reason, purged=(i == 2))


def add_recording(session: Session, store: RecordingStore, call: Call, *,
                  reason: RecordingReason = RecordingReason.ABUSIVE, purged: bool = False,
                  audio: bytes | None = None) -> Recording:
    """A kept recording with its file in the store (none when ``purged``)."""
    audio = audio if audio is not None else b"RIFF" + os.urandom(4000)
    key = RecordingStore.key_for(call.id, call.arrived_at.date(), f"pbx1-{call.linkedid}.wav")
    if not purged:
        tmp = store.root / f"incoming-{call.id}.wav"
        store.root.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(audio)
        store.put(tmp, key)
        tmp.unlink()
    rec = Recording(call_id=call.id, reason=reason,
                    reason_text="威胁" if reason == RecordingReason.OTHER else "",
                    flagged_at=call.ended_at or T0, agent_id=call.answered_by_agent_id,
                    caller_number=call.caller_number, storage_key=key, duration_seconds=0.5,
                    size_bytes=len(audio), sha256=hashlib.sha256(audio).hexdigest(),
                    legal_hold=reason == RecordingReason.EXTORTION,
                    retain_until=T0 + dt.timedelta(days=1095),
                    purged_at=T0 if purged else None)
    session.add(rec)
    session.flush()
    return rec


def dump_tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the schema's version stamp included), in primary-key
    order, as the ORM's column types read them."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
        version = Table("alembic_version", MetaData(), autoload_with=conn)
        out["alembic_version"] = [tuple(r) for r in conn.execute(select(version))]
    return out


def store_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def table_names(conn: Connection) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())
