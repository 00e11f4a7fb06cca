"""Deadlines (callbacks, return visits, case replies, complaints), member coverage,
recordings and the scorecard, from records with known figures, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import (
    CallNote,
    Case,
    Complaint,
    Customer,
    OutboundTask,
    Recording,
    ReturnVisit,
)
from hotline.domain.enums import (
    CallCategory,
    CallOutcome,
    CaseStatus,
    ComplaintSeverity,
    ComplaintStatus,
    Gender,
    NoteOutcome,
    RecordingReason,
    TaskStatus,
    TaskType,
)
from hotline.reports.context import ReportContext
from hotline.reports.coverage import member_coverage
from hotline.reports.deadlines import complaint_figures, deadline_figures
from hotline.reports.period import Period
from hotline.reports.recordings import recording_figures
from hotline.reports.scorecard import COMPUTABLE_WEIGHT, agent_scorecard
from tests.factories import make_user
from tests.reports.scenario import SHANGHAI, LegSpec, add_call, local

MARCH = Period.days(dt.date(2026, 3, 1), dt.date(2026, 3, 31), SHANGHAI)
NOW = local("2026-03-20 12:00")
H = dt.timedelta(hours=1)


def _task(s: Session, kind: TaskType, created: str, *, deadline_h: float | None, status: TaskStatus,
          done_after_h: float | None = None, agent_id: int | None = None,
          outcome: CallOutcome | None = None) -> None:
    created_at = local(created)
    s.add(OutboundTask(
        type=kind, phone="+8613800138000", agent_id=agent_id, due_at=created_at,
        deadline_at=created_at + deadline_h * H if deadline_h is not None else None,
        status=status, created_at=created_at, outcome=outcome,
        completed_at=created_at + done_after_h * H if done_after_h is not None else None,
    ))


def test_callbacks_and_case_replies_inside_deadlines(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        user = make_user(s, "amy", "agent", "1001")
        done, pending = TaskStatus.DONE, TaskStatus.PENDING
        _task(s, TaskType.REQUESTED, "2026-03-02 10:00", deadline_h=48, status=done, done_after_h=5)
        _task(s, TaskType.REQUESTED, "2026-03-02 11:00", deadline_h=48, status=done, done_after_h=50)
        _task(s, TaskType.REQUESTED, "2026-03-10 11:00", deadline_h=48, status=pending)  # overdue
        _task(s, TaskType.REQUESTED, "2026-03-19 11:00", deadline_h=48, status=pending)  # not yet
        _task(s, TaskType.DROPPED_CALL, "2026-03-03 09:00", deadline_h=1, status=done,
              done_after_h=0.5)
        _task(s, TaskType.MEMBER_RETURN_VISIT, "2026-03-05 09:00", deadline_h=72,
              status=TaskStatus.FAILED)
        _task(s, TaskType.REQUESTED, "2026-04-02 11:00", deadline_h=48, status=pending)  # April
        for created, replied_h in (("2026-03-02 10:00", 47), ("2026-03-04 10:00", 49),
                                   ("2026-03-19 10:00", None)):
            c = local(created)
            s.add(Case(created_by_id=user.id, owner_id=user.id, occurred_at=c, place="门店",
                       person="张三", event="退款", contact_phone="+8613800138000",
                       created_at=c, reply_due_at=c + 48 * H,
                       status=CaseStatus.REPLIED if replied_h else CaseStatus.OPEN,
                       replied_at=c + replied_h * H if replied_h else None))
    with sessions() as s:
        rows = {r["kind"]: r for r in deadline_figures(s, MARCH, NOW).rows}
    req = rows["requested"]
    assert (req["total"], req["done"], req["done_in_time"], req["done_late"]) == (4, 2, 1, 1)
    assert (req["open"], req["overdue"]) == (2, 1)
    assert req["on_time_rate"] == round(1 / 3, 4)  # settled: 2 done + 1 overdue
    assert rows["dropped-call"]["on_time_rate"] == 1.0
    rv = rows["member-return-visit"]
    assert (rv["total"], rv["done"], rv["open"], rv["on_time_rate"]) == (1, 0, 0, 0.0)
    cases = rows["case-reply (48 h)"]
    assert (cases["total"], cases["done"], cases["done_in_time"], cases["open"]) == (3, 2, 1, 1)
    assert cases["overdue"] == 0 and cases["on_time_rate"] == 0.5


def test_complaints_closed_within_two_working_days(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        user = make_user(s, "amy", "agent", "1001")
        visit = ReturnVisit(agent_user_id=user.id, card_number="C1", name="王五",
                            gender=Gender.MALE, phone="+8613800138000", work_unit="单位",
                            place="电话", visited_at=local("2026-03-04 10:00"), opinions="满意")
        s.add(visit)
        s.flush()

        def complaint(received: str, due: str, severity: ComplaintSeverity, *,
                      closed: str | None = None, replied: str | None = None,
                      level: int = 0) -> None:
            s.add(Complaint(
                created_by_id=user.id, description="投诉", severity=severity,
                received_at=local(received), due_at=local(due), escalation_level=level,
                status=ComplaintStatus.CLOSED if closed else ComplaintStatus.OPEN,
                closed_at=local(closed) if closed else None,
                replied_at=local(replied) if replied else None,
                return_visit_id=visit.id if closed else None))

        normal, high = ComplaintSeverity.NORMAL, ComplaintSeverity.HIGH
        # Friday 6 March: due Tuesday 10 March (2 working days).
        complaint("2026-03-06 15:00", "2026-03-10 15:00", normal, closed="2026-03-09 11:00",
                  replied="2026-03-09 10:00")
        complaint("2026-03-06 16:00", "2026-03-10 16:00", normal, closed="2026-03-11 09:00",
                  replied="2026-03-10 09:00")
        complaint("2026-03-12 09:00", "2026-03-16 09:00", high, level=1)  # open, overdue
        complaint("2026-03-19 09:00", "2026-03-23 09:00", high)  # open, not yet due
    with sessions() as s:
        table = complaint_figures(s, MARCH, NOW)
    rows = {r["severity"]: r for r in table.rows}
    assert [r["severity"] for r in table.rows] == ["high", "normal"]
    n = rows["normal"]
    assert (n["total"], n["closed"], n["closed_in_time"], n["replied_in_time"]) == (2, 2, 1, 2)
    assert n["on_time_rate"] == 0.5
    h = rows["high"]
    assert (h["total"], h["open"], h["overdue"], h["escalated"], h["on_time_rate"]) == (
        2, 2, 1, 1, 0.0)
    assert table.summary["total"] == 4 and table.summary["on_time_rate"] == round(1 / 3, 4)


def test_member_return_visit_coverage(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        user = make_user(s, "amy", "agent", "1001")
        members = [Customer(phone=f"+861380013800{i}", name=f"会员{i}", is_member=True)
                   for i in range(4)]
        s.add_all([*members, Customer(phone="+8613900139000", name="非会员")])
        s.flush()
        for customer, when in ((members[0], "2026-03-05 10:00"), (members[0], "2026-03-06 10:00"),
                               (members[1], "2026-03-07 10:00"), (members[2], "2026-02-27 10:00")):
            s.add(ReturnVisit(customer_id=customer.id, agent_user_id=user.id, card_number="C",
                              name=customer.name, gender=Gender.FEMALE, phone=customer.phone,
                              work_unit="单位", place="电话", visited_at=local(when),
                              opinions="好"))
    with sessions() as s:
        table = member_coverage(s, MARCH)
    assert table.summary == {"members": 4, "visited": 2, "coverage": 0.5}
    visits = {r["name"]: r["visits"] for r in table.rows}
    assert visits == {"会员0": 2, "会员1": 1, "会员2": 0, "会员3": 0}
    assert [r["visits"] for r in table.rows][:2] == [0, 0]  # the unvisited first
    assert table.rows[-1]["last_visit"] == "2026-03-06 10:00"


def test_recordings_by_reason_and_agent(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        amy = make_user(s, "amy", "agent", "1001").agent
        bob = make_user(s, "bob", "agent", "1002").agent
        assert amy and bob
        call = add_call(s, local("2026-03-02 10:00"), agent=amy, wait=10, talk=60)
        for i, (agent, reason, when) in enumerate([
            (amy, RecordingReason.ABUSIVE, "2026-03-02 10:01"),
            (amy, RecordingReason.ABUSIVE, "2026-03-03 10:01"),
            (amy, RecordingReason.EXTORTION, "2026-03-04 10:01"),
            (bob, RecordingReason.ABUSIVE, "2026-03-05 10:01"),
            (bob, RecordingReason.ABUSIVE, "2026-04-05 10:01"),
        ]):
            s.add(Recording(call_id=call.id, reason=reason, agent_id=agent.id,
                            flagged_at=local(when), storage_key=f"k{i}", sha256="0" * 64,
                            duration_seconds=90))
    with sessions() as s:
        table = recording_figures(s, MARCH)
    got = {(r["agent"], r["reason"]): (r["recordings"], r["minutes"]) for r in table.rows}
    assert got == {("amy", "abusive"): (2, 3.0), ("amy", "extortion"): (1, 1.5),
                   ("bob", "abusive"): (1, 1.5)}
    assert table.summary == {"total": 4, "reason_abusive": 3, "reason_extortion": 1}


def test_scorecard_uses_rule_7b_weights(sessions: sessionmaker[Session],
                                         ctx: ReportContext) -> None:
    with sessions.begin() as s:
        amy_user = make_user(s, "amy", "agent", "1001")
        bob_user = make_user(s, "bob", "agent", "1002")
        amy, bob = amy_user.agent, bob_user.agent
        assert amy and bob
        calls = [add_call(s, local(f"2026-03-0{d} 10:00"), agent=amy, wait=10, talk=60,
                          legs=(LegSpec(amy, "ANSWER", 3),)) for d in (2, 3, 4, 5)]
        add_call(s, local("2026-03-06 10:00"), agent=bob, wait=10, talk=60,
                 legs=(LegSpec(bob, "ANSWER", 6),))
        for call, outcome in zip(calls[:2], (NoteOutcome.ACCEPTED, NoteOutcome.NOT_ACCEPTED),
                                 strict=True):
            s.add(CallNote(call_id=call.id, author_id=amy_user.id, category=CallCategory.INQUIRY,
                           content="咨询", outcome=outcome, created_at=call.arrived_at))
        s.add(ReturnVisit(agent_user_id=bob_user.id, card_number="C", name="客户",
                          gender=Gender.MALE, phone="+8613800138000", work_unit="单位",
                          place="电话", visited_at=local("2026-03-07 10:00"), opinions="好"))
        _task(s, TaskType.MEMBER_RETURN_VISIT, "2026-03-07 09:00", deadline_h=24,
              status=TaskStatus.DONE, done_after_h=1, agent_id=bob.id,
              outcome=CallOutcome.ANSWERED)
        _task(s, TaskType.MEMBER_RETURN_VISIT, "2026-03-07 09:00", deadline_h=24,
              status=TaskStatus.FAILED, agent_id=bob.id, outcome=CallOutcome.NO_ANSWER)
    with sessions() as s:
        table = agent_scorecard(s, MARCH, ctx, NOW)
    rows = {r["extension"]: r for r in table.rows}
    a, b = rows["1001"], rows["1002"]
    assert (a["phone_consultations"], a["return_visits"]) == (4, 0)
    assert a["standard_compliance"] == 1.0 and a["record_completeness"] == 0.5
    assert a["first_contact"] == 0.5 and a["return_visit_effectiveness"] is None
    # 10 (best phone) + 0 + 5 + 2.5 + 2.5 + 0 = 20 of 40
    assert a["points"] == 20.0 and a["score"] == 0.5
    assert (b["phone_consultations"], b["return_visits"]) == (1, 1)
    assert b["standard_compliance"] == 0.0 and b["return_visit_effectiveness"] == 0.5
    assert b["record_completeness"] == 0.0 and b["first_contact"] is None
    # 10 * 1/4 + 10 (best visits) + 0 + 0 + 0 + 5 * 0.5 = 15 of 40
    assert b["points"] == 15.0 and b["score"] == 0.375
    assert [r["extension"] for r in table.rows] == ["1001", "1002"]
    assert COMPUTABLE_WEIGHT == 40
    assert any("有无投诉" in note for note in table.notes)


@pytest.mark.parametrize("when", ["2026-03-01 00:00", "2026-03-31 23:59"])
def test_period_edges_are_local_midnight(sessions: sessionmaker[Session], when: str) -> None:
    with sessions.begin() as s:
        user = make_user(s, "amy", "agent", "1001")
        c = local(when)
        s.add(Complaint(created_by_id=user.id, description="投诉", received_at=c,
                        due_at=c + 48 * H))
    with sessions() as s:
        assert complaint_figures(s, MARCH, NOW).summary["total"] == 1
        assert complaint_figures(s, Period.day(dt.date(2026, 2, 28), SHANGHAI),
                                 NOW).summary["total"] == 0
