"""What agents and supervisors see: today's follow-ups, overdue tasks, SLA compliance per
type; return-visit tasks close only with a complete record, which then lets the complaint
close; plans of the next calling window."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hotline.crm.service import close_complaint, file_complaint
from hotline.db.models import Complaint, OutboundAttempt, OutboundTask
from hotline.db.session import transaction
from hotline.domain.calendar import WorkingCalendar
from hotline.domain.enums import AttemptState, CallOutcome, TaskStatus, TaskType
from hotline.domain.errors import InvalidInput
from hotline.settings import Settings
from scheduler.planner import plan_window
from scheduler.queries import (
    close_with_return_visit,
    complete_task,
    overdue_tasks,
    sla_compliance,
    todays_follow_ups,
)
from scheduler.tasks import TaskSpec, add_task
from scheduler.windows import WindowPolicy
from tests.scheduler.conftest import MONDAY_10, add_agent, add_customer, local

VISIT = {"card_number": "VIP0001", "name": "李女士", "gender": "female",
         "phone": "13912345678", "work_unit": "某公司", "place": "电话回访",
         "visited_at": "2026-11-23T11:00:00+08:00", "opinions": "满意,感谢及时回复"}


def task(s: Session, settings: Settings, key: str, **kw: object) -> OutboundTask:
    values: dict[str, object] = {"type": TaskType.FOLLOW_UP, "phone": "+8613912345678",
                                 "due_at": MONDAY_10, "dedupe_key": key}
    values.update(kw)
    task_id = add_task(s, TaskSpec(**values), settings)  # type: ignore[arg-type]
    t = s.get(OutboundTask, task_id)
    assert t is not None
    return t


def test_todays_follow_ups_overdue_first_and_overdue_list(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    policy = WindowPolicy(settings)
    with transaction(sessions) as s:
        me, other = add_agent(s), add_agent(s)
        late = task(s, settings, "a", agent_id=me.id, due_at=MONDAY_10 - dt.timedelta(days=2),
                    deadline_at=MONDAY_10 - dt.timedelta(hours=1))
        today = task(s, settings, "b", agent_id=me.id, due_at=local(2026, 11, 23, 15, 0),
                     deadline_at=local(2026, 11, 24, 15, 0))
        task(s, settings, "c", agent_id=me.id, due_at=local(2026, 11, 24, 9, 0))  # tomorrow
        task(s, settings, "d", agent_id=other.id)  # someone else's
        done = task(s, settings, "e", agent_id=me.id, type=TaskType.CASE_REPLY)
        done.status = TaskStatus.DONE
        s.flush()
        listed = todays_follow_ups(s, me.id, MONDAY_10, policy)
        assert [t.id for t in listed] == [late.id, today.id]
        assert [t.id for t in overdue_tasks(s, MONDAY_10)] == [late.id]
        assert overdue_tasks(s, MONDAY_10, agent_id=other.id) == []


def test_sla_compliance_per_type(sessions: sessionmaker[Session], settings: Settings) -> None:
    with transaction(sessions) as s:
        deadline = MONDAY_10 + dt.timedelta(hours=2)

        def reached(t: OutboundTask, at: dt.datetime) -> None:
            s.add(OutboundAttempt(task_id=t.id, epoch=1, mode="agent_first",
                                  state=AttemptState.SETTLED, outcome=CallOutcome.ANSWERED,
                                  started_at=at, settled_at=at, agent_failed=False, detail=""))
            t.status = TaskStatus.DONE if t.type is TaskType.CASE_REPLY else TaskStatus.AWAITING_RECORD
            t.completed_at = at

        on_time = task(s, settings, "1", type=TaskType.CASE_REPLY, deadline_at=deadline)
        reached(on_time, deadline - dt.timedelta(minutes=30))
        late = task(s, settings, "2", type=TaskType.CASE_REPLY, deadline_at=deadline)
        reached(late, deadline + dt.timedelta(minutes=30))
        failed = task(s, settings, "3", type=TaskType.CASE_REPLY, deadline_at=deadline)
        failed.status = TaskStatus.FAILED
        task(s, settings, "4", type=TaskType.CASE_REPLY, deadline_at=deadline)  # open, past due
        visit = task(s, settings, "5", type=TaskType.FOLLOW_UP, deadline_at=deadline)
        reached(visit, deadline - dt.timedelta(hours=1))
        task(s, settings, "6", type=TaskType.FOLLOW_UP, deadline_at=deadline + dt.timedelta(days=1))
        s.flush()
        rows = {r.type: r for r in sla_compliance(
            s, MONDAY_10, MONDAY_10 + dt.timedelta(days=7), now=deadline + dt.timedelta(hours=1))}
        case = rows[TaskType.CASE_REPLY]
        assert (case.total, case.on_time, case.late, case.missed, case.open) == (4, 1, 1, 2, 0)
        assert case.compliance == 25.0
        fu = rows[TaskType.FOLLOW_UP]
        assert (fu.total, fu.on_time, fu.open, fu.compliance) == (2, 1, 1, 100.0)


def test_return_visit_task_closes_only_with_a_complete_record_then_the_complaint_can_close(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        agent = add_agent(s)
        customer = add_customer(s, phone="+8613912345678")
        complaint = file_complaint(s, {"description": "投诉", "customer_id": customer.id},
                                   created_by_id=agent.user_id,
                                   calendar=WorkingCalendar(settings.hours, settings.tz),
                                   now=MONDAY_10)
        t = task(s, settings, "cv", type=TaskType.COMPLAINT_RETURN_VISIT,
                 complaint_id=complaint.id, customer_id=customer.id)
        t.status = TaskStatus.AWAITING_RECORD
        s.flush()
        task_id, complaint_id = t.id, complaint.id
    # Marking it done by hand is refused: it is a return visit.
    with pytest.raises(InvalidInput, match="closes only with a complete return-visit record"):
        with transaction(sessions) as s:
            complete_task(s, task_id, user_id=agent.user_id, now=MONDAY_10)
    # An incomplete record is refused and nothing is stored.
    with pytest.raises(InvalidInput, match="work_unit"):
        with transaction(sessions) as s:
            close_with_return_visit(s, task_id, {**VISIT, "work_unit": " "},
                                    agent_user_id=agent.user_id, now=MONDAY_10)
    with sessions() as s:
        assert s.get(OutboundTask, task_id).status is TaskStatus.AWAITING_RECORD  # type: ignore[union-attr]
        # The complaint cannot close yet either.
        with pytest.raises(InvalidInput, match="after its return visit"):
            close_complaint(s, complaint_id)
    with transaction(sessions) as s:
        done = close_with_return_visit(s, task_id, VISIT, agent_user_id=agent.user_id,
                                       now=MONDAY_10)
        assert done.status is TaskStatus.DONE and done.return_visit_id is not None
    with transaction(sessions) as s:
        closed = close_complaint(s, complaint_id, now=MONDAY_10)
        assert closed.status.value == "closed"
        assert s.get(Complaint, complaint_id).return_visit_id == done.return_visit_id  # type: ignore[union-attr]


def test_plan_of_the_next_window_from_the_rest_period(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    policy = WindowPolicy(settings)
    with transaction(sessions) as s:
        a = task(s, settings, "a", type=TaskType.REQUESTED, due_at=local(2026, 11, 23, 12, 10))
        b = task(s, settings, "b", type=TaskType.DROPPED_CALL, due_at=local(2026, 11, 23, 12, 20),
                 deadline_at=local(2026, 11, 23, 12, 35))
        c = task(s, settings, "c", type=TaskType.REQUESTED, due_at=local(2026, 11, 23, 18, 0))
        task(s, settings, "d", type=TaskType.REQUESTED, due_at=local(2026, 11, 24, 9, 0))
        plan = plan_window(s, policy, local(2026, 11, 23, 12, 30))
        # The next window is 14:00-20:00: a and b wait for its opening, the dropped call
        # first (it cannot make its deadline any more); c at its own time; d is tomorrow's.
        assert [(e.task_id, e.dial_at) for e in plan.entries] == [
            (b.id, local(2026, 11, 23, 14, 0)), (a.id, local(2026, 11, 23, 14, 0)),
            (c.id, local(2026, 11, 23, 18, 0))]
        assert [e.task_id for e in plan.late()] == [b.id]
