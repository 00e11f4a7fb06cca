"""Each rule creates its tasks with the deadline its source rule sets, for the right agent,
and running it again creates nothing twice. Both databases, frozen time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.crm.service import file_complaint, open_case
from hotline.db.models import AgentAbsence, Call, Customer, CustomerPurchase, OutboundTask
from hotline.db.session import transaction
from hotline.domain.enums import (
    CallDirection,
    CallDisposition,
    CallingWindow,
    Gender,
    TaskStatus,
    TaskType,
)
from hotline.domain.errors import InvalidInput
from hotline.settings import Settings
from scheduler import campaigns
from scheduler.absences import add_absence
from scheduler.rules import RULES, RuleContext
from scheduler.rules.dropped_call import create_dropped_call_task
from tests.scheduler.conftest import MONDAY_10, add_agent, add_customer, local, make_settings


def run_rule(session: Session, settings: Settings, name: str, now: dt.datetime) -> list[OutboundTask]:
    result = RULES[name](RuleContext(session, settings, now))
    return [session.get(OutboundTask, i) for i in result.created]  # type: ignore[misc]


def tasks_of(session: Session, task_type: TaskType) -> list[OutboundTask]:
    return list(session.scalars(select(OutboundTask).where(OutboundTask.type == task_type)
                                .order_by(OutboundTask.id)))


def add_call(session: Session, **kw: object) -> Call:
    values: dict[str, object] = {
        "pbx": "pbx1", "linkedid": "1795390096.62", "uniqueid": "1795390096.62",
        "direction": CallDirection.INBOUND, "caller_number": "13912345678",
        "arrived_at": MONDAY_10 - dt.timedelta(minutes=10),
    }
    values.update(kw)
    call = Call(**values)
    session.add(call)
    session.flush()
    return call


def test_dropped_call_same_agent_at_once_one_task_from_bridge_and_sweep(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        agent = add_agent(s)
        ended = MONDAY_10 - dt.timedelta(minutes=1)
        call = add_call(s, answered_at=ended - dt.timedelta(minutes=5),
                        agent_answered_at=ended - dt.timedelta(minutes=5), ended_at=ended,
                        answered_by_agent_id=agent.id, abnormal_end=True, hangup_cause=38)
        # The bridge stores the callback as it sees the abnormal end...
        first = create_dropped_call_task(
            s, settings, pbx="pbx1", linkedid=call.linkedid, caller_number="13912345678",
            agent_id=agent.id, ended_at=ended)
        # ...and the sweep finds the same call again: still one task.
        assert run_rule(s, settings, "dropped-call", MONDAY_10) == []
        (task,) = tasks_of(s, TaskType.DROPPED_CALL)
        assert task.id == first
        assert task.agent_id == agent.id and task.call_id == call.id
        assert task.phone == "+8613912345678"
        assert task.due_at == ended  # at once
        assert task.deadline_at == ended + dt.timedelta(minutes=15)
        assert task.window is CallingWindow.BUSINESS_HOURS_ANY_DAY


def test_dropped_call_on_a_sunday_evening_waits_for_the_next_opening_same_day_rules(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        agent = add_agent(s)
        ended = local(2026, 11, 22, 21, 30)  # Sunday, after closing
        create_dropped_call_task(s, settings, pbx="pbx1", linkedid="1.1",
                                 caller_number="13912345678", agent_id=agent.id, ended_at=ended)
        (task,) = tasks_of(s, TaskType.DROPPED_CALL)
        # Any day is allowed, but only in business hours: the SLA runs from 08:00 Monday.
        assert task.deadline_at == local(2026, 11, 23, 8, 15)
        # An anonymous caller cannot be called back: no task, no error.
        assert create_dropped_call_task(s, settings, pbx="pbx1", linkedid="1.2",
                                        caller_number="anonymous", agent_id=agent.id,
                                        ended_at=ended) is None


def test_requested_callback_is_due_in_the_next_calling_window(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        asked = local(2026, 11, 23, 20, 40)  # Monday evening, after closing
        add_call(s, disposition=CallDisposition.CALLBACK_REQUESTED, arrived_at=asked,
                 ended_at=asked + dt.timedelta(minutes=1))
        (task,) = run_rule(s, settings, "requested", asked + dt.timedelta(minutes=5))
        assert task.agent_id is None  # any agent
        assert task.window is CallingWindow.WORKING_HOURS
        # The next calling window is Tuesday 08:00-12:00: it must ring in there.
        assert task.due_at == local(2026, 11, 24, 8, 0)
        assert task.deadline_at == local(2026, 11, 24, 12, 0)
        assert run_rule(s, settings, "requested", asked + dt.timedelta(minutes=6)) == []


def test_case_reply_within_48h_of_creation_by_its_owner(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        agent = add_agent(s)
        case = open_case(s, {"occurred_at": "2026-11-23T09:00:00+08:00", "place": "门店",
                             "person": "王先生", "event": "退款未到账",
                             "contact_phone": "13912345678", "owner_id": agent.user_id},
                         created_by_id=agent.user_id, now=MONDAY_10)
        (task,) = run_rule(s, settings, "case-reply", MONDAY_10)
        assert task.case_id == case.id and task.agent_id == agent.id
        assert task.deadline_at == MONDAY_10 + dt.timedelta(hours=48)
        assert task.phone == "+8613912345678"
        assert run_rule(s, settings, "case-reply", MONDAY_10) == []


def test_complaint_return_visit_within_two_working_days_across_spring_festival(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    from hotline.domain.calendar import WorkingCalendar

    with transaction(sessions) as s:
        agent = add_agent(s)
        customer = add_customer(s, name="李女士")
        received = local(2026, 2, 13, 10, 0)  # Friday; Sat 14th is an adjusted working day
        complaint = file_complaint(
            s, {"description": "服务态度差", "customer_id": customer.id,
                "owner_id": agent.user_id, "received_at": received.isoformat()},
            created_by_id=agent.user_id, calendar=WorkingCalendar(settings.hours, settings.tz))
        (task,) = run_rule(s, settings, "complaint-return-visit", received)
        assert task.complaint_id == complaint.id and task.agent_id == agent.id
        assert task.phone == customer.phone
        # Saturday 14th counts, then the Spring Festival holiday (15th-23rd): Tuesday 24th.
        assert task.deadline_at == local(2026, 2, 24, 10, 0)
        assert task.window is CallingWindow.WORKING_HOURS


def test_follow_up_within_48h_of_last_contact_next_one_after_each_contact(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        agent = add_agent(s)
        last = local(2026, 11, 23, 9, 0)
        c = add_customer(s, needs_follow_up=True, last_contact_at=last,
                         assigned_agent_id=agent.id, assigned_at=last - dt.timedelta(days=30))
        (task,) = run_rule(s, settings, "follow-up", MONDAY_10)
        assert task.agent_id == agent.id and task.customer_id == c.id
        assert task.deadline_at == last + dt.timedelta(hours=48)
        assert task.due_at == last + dt.timedelta(hours=24)
        # A contact happens (the scheduler sets it on an answered call): the old task is
        # superseded, the next one is due 48 h after the new contact.
        c.last_contact_at = local(2026, 11, 24, 15, 0)
        (nxt,) = run_rule(s, settings, "follow-up", local(2026, 11, 24, 15, 5))
        assert nxt.deadline_at == local(2026, 11, 26, 15, 0)
        s.refresh(task)
        assert task.status is TaskStatus.CANCELLED
        # Unmarked: the open follow-up goes away.
        c.needs_follow_up = False
        run_rule(s, settings, "follow-up", local(2026, 11, 24, 15, 10))
        s.refresh(nxt)
        assert nxt.status is TaskStatus.CANCELLED


def test_follow_up_before_a_weekend_is_due_while_the_window_is_still_open(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        last = local(2026, 11, 27, 17, 0)  # Friday afternoon
        add_customer(s, needs_follow_up=True, last_contact_at=last)
        (task,) = run_rule(s, settings, "follow-up", last)
        # Half-way (Saturday 17:00) would only ring on Monday, past the 48 h deadline.
        assert task.due_at == last + dt.timedelta(hours=1)
        assert task.deadline_at == last + dt.timedelta(hours=48)


def test_follow_ups_are_handed_over_before_the_agents_leave_starts(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        away, busy, free = add_agent(s), add_agent(s), add_agent(s)
        # "busy" already has two open tasks, "free" none: the cover is "free".
        for i in range(2):
            add_customer(s, needs_follow_up=True, last_contact_at=MONDAY_10,
                         assigned_agent_id=busy.id, assigned_at=MONDAY_10 - dt.timedelta(days=40 + i))
        mine = add_customer(s, needs_follow_up=True, last_contact_at=MONDAY_10,
                            assigned_agent_id=away.id, assigned_at=MONDAY_10 - dt.timedelta(days=40))
        run_rule(s, settings, "follow-up", MONDAY_10)
        (task,) = [t for t in tasks_of(s, TaskType.FOLLOW_UP) if t.customer_id == mine.id]
        assert task.agent_id == away.id
        # Leave from Wednesday 08:00: more than 24 h ahead, nothing moves yet.
        add_absence(s, agent_id=away.id, starts_at=local(2026, 11, 25, 8, 0),
                    ends_at=local(2026, 11, 30, 8, 0))
        run_rule(s, settings, "follow-up", MONDAY_10)
        s.refresh(task)
        assert task.agent_id == away.id
        # Tuesday 09:00, within 24 h of the leave: handed over to the least loaded colleague.
        run_rule(s, settings, "follow-up", local(2026, 11, 24, 9, 0))
        s.refresh(task)
        assert (task.agent_id, task.original_agent_id) == (free.id, away.id)
        absence = s.scalar(select(AgentAbsence))
        assert absence is not None and absence.handed_over_at is not None


def test_absence_input_is_checked(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        agent = add_agent(s)
        with pytest.raises(InvalidInput, match="ends_at: must be after starts_at"):
            add_absence(s, agent_id=agent.id, starts_at=MONDAY_10, ends_at=MONDAY_10)
        with pytest.raises(InvalidInput, match="agent_id: agent #999 does not exist"):
            add_absence(s, agent_id=999, starts_at=MONDAY_10,
                        ends_at=MONDAY_10 + dt.timedelta(days=1))


def test_first_contact_within_seven_days_and_new_customers_balanced(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        a, b, c = add_agent(s), add_agent(s), add_agent(s)
        add_customer(s, assigned_agent_id=a.id, assigned_at=MONDAY_10 - dt.timedelta(days=60),
                     last_contact_at=MONDAY_10 - dt.timedelta(days=50))
        add_customer(s, assigned_agent_id=a.id, assigned_at=MONDAY_10 - dt.timedelta(days=60),
                     last_contact_at=MONDAY_10 - dt.timedelta(days=50))
        new = [add_customer(s) for _ in range(7)]
        created = run_rule(s, settings, "first-contact", MONDAY_10)
        per_agent = {x.id: 0 for x in (a, b, c)}
        for cust in s.scalars(select(Customer)):
            per_agent[cust.assigned_agent_id] += 1  # type: ignore[index]
        # 9 customers, a had 2: the 7 new ones make it 3/3/3.
        assert sorted(per_agent.values()) == [3, 3, 3]
        assert {t.customer_id for t in created} == {n.id for n in new}
        for t in created:
            assert t.deadline_at == MONDAY_10 + dt.timedelta(days=7)
            assert t.agent_id == s.get(Customer, t.customer_id).assigned_agent_id  # type: ignore[union-attr]
        assert run_rule(s, settings, "first-contact", MONDAY_10) == []


def test_member_campaign_coverage_and_closing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        agent = add_agent(s)
        members = [add_customer(s, name=f"会员{i}", is_member=True, assigned_agent_id=agent.id)
                   for i in range(3)]
        add_customer(s, name="非会员")
        camp = campaigns.open_campaign(s, name="2026 Q4 会员回访", starts_at=MONDAY_10,
                                       deadline_at=MONDAY_10 + dt.timedelta(days=14))
        created = run_rule(s, settings, "member-return-visit", MONDAY_10)
        assert sorted(t.customer_id for t in created) == [m.id for m in members]  # type: ignore[type-var]
        assert all(t.campaign_id == camp.id and t.deadline_at == camp.deadline_at for t in created)
        cov = campaigns.coverage(s, camp.id)
        assert (cov.members, cov.visited, cov.percent) == (3, 0, 0.0)
        with pytest.raises(InvalidInput, match=r"reached 0 of 3 members \(0.0%\)"):
            campaigns.close_campaign(s, camp.id, MONDAY_10)
        from hotline.crm.service import record_return_visit

        for m in members[:2]:
            record_return_visit(s, {"card_number": f"VIP{m.id}", "name": m.name,
                                    "gender": Gender.FEMALE, "phone": m.phone, "work_unit": "某公司",
                                    "place": "电话", "visited_at": "2026-11-23T11:00:00+08:00",
                                    "opinions": "满意", "customer_id": m.id},
                                agent_user_id=agent.user_id)
        cov = campaigns.coverage(s, camp.id)
        assert [m.customer_id for m in cov.missing] == [members[2].id]
        assert cov.percent == 66.7
        with pytest.raises(InvalidInput, match=f"not yet visited: #{members[2].id}"):
            campaigns.close_campaign(s, camp.id, MONDAY_10)
        record_return_visit(s, {"card_number": "VIP9", "name": "会员2", "gender": "male",
                                "phone": members[2].phone, "work_unit": "某公司", "place": "门店",
                                "visited_at": "2026-11-24T11:00:00+08:00", "opinions": "无",
                                "customer_id": members[2].id}, agent_user_id=agent.user_id)
        closed = campaigns.close_campaign(s, camp.id, MONDAY_10)
        assert closed.status.value == "closed"
        # Nothing is left to dial for a closed campaign.
        assert {t.status for t in tasks_of(s, TaskType.MEMBER_RETURN_VISIT)} == {TaskStatus.CANCELLED}


def test_birthday_calls_vip_customers_on_the_day(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        vip = add_customer(s, is_vip=True, birthday=dt.date(1980, 11, 28))
        add_customer(s, is_vip=False, birthday=dt.date(1980, 11, 28))
        leap = add_customer(s, is_vip=True, birthday=dt.date(1984, 2, 29))
        add_customer(s, is_vip=True, birthday=dt.date(1980, 11, 29))
        saturday = local(2026, 11, 28, 0, 5)
        (task,) = run_rule(s, settings, "birthday", saturday)
        assert task.customer_id == vip.id
        # On the day itself although it is a Saturday, inside business hours.
        assert task.window is CallingWindow.BUSINESS_HOURS_ANY_DAY
        assert task.due_at == local(2026, 11, 28, 8, 0)
        assert task.deadline_at == local(2026, 11, 28, 20, 0)
        assert run_rule(s, settings, "birthday", saturday) == []
        # 29 February birthdays are greeted on 28 February in a common year.
        (feb,) = run_rule(s, settings, "birthday", local(2027, 2, 28, 0, 5))
        assert feb.customer_id == leap.id


def test_festival_greetings_on_configured_dates_only(sessions: sessionmaker[Session]) -> None:
    settings = make_settings(festivals=[{"date": "2027-02-06", "name": "春节"},
                                        {"date": "2026-12-21", "name": "冬至"}])
    with transaction(sessions) as s:
        vip = add_customer(s, is_vip=True)
        member = add_customer(s, is_member=True)
        add_customer(s)  # neither: not in the default audience
        assert run_rule(s, settings, "festival", local(2026, 12, 20, 0, 5)) == []
        created = run_rule(s, settings, "festival", local(2026, 12, 21, 0, 5))
        assert sorted(t.customer_id for t in created) == sorted([vip.id, member.id])  # type: ignore[type-var]
        assert {t.note for t in created} == {"冬至"}
        assert {t.deadline_at for t in created} == {local(2026, 12, 21, 20, 0)}


def test_top_three_per_department_and_key_accounts_on_the_16th(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with transaction(sessions) as s:
        cs = [add_customer(s) for _ in range(6)]
        key = add_customer(s, is_key_account=True)
        spend = {  # department -> customer index -> amount, all in 1-15 November
            "家电": {0: 900, 1: 800, 2: 700, 3: 100},
            "食品": {3: 50, 4: 40, 5: 30, 0: 10},
        }
        for dept, amounts in spend.items():
            for i, amount in amounts.items():
                s.add(CustomerPurchase(customer_id=cs[i].id, department=dept,
                                       amount=Decimal(amount), purchased_at=local(2026, 11, 10, 12, 0)))
        # Outside the half month: does not count.
        s.add(CustomerPurchase(customer_id=cs[3].id, department="家电", amount=Decimal(99999),
                               purchased_at=local(2026, 11, 16, 9, 0)))
        s.flush()
        created = run_rule(s, settings, "top-customers", local(2026, 11, 16, 0, 5))
        chosen = {t.customer_id for t in created}
        assert chosen == {cs[0].id, cs[1].id, cs[2].id, cs[3].id, cs[4].id, cs[5].id, key.id}
        assert {t.deadline_at for t in created} == {local(2026, 12, 1, 0, 0)}
        assert run_rule(s, settings, "top-customers", local(2026, 11, 20, 10, 0)) == []
        notes = {t.customer_id: t.note for t in created}
        assert notes[cs[0].id] == "top 1 in 家电 (900.00)" and notes[key.id] == "key account"
