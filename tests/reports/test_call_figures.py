"""Call figures from calls with known numbers, compared one by one, on SQLite and PostgreSQL;
buckets are cut in Asia/Shanghai, not UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import Agent
from hotline.domain.enums import CallCategory, CallDirection, CallDisposition
from hotline.reports.agents import agent_figures
from hotline.reports.calls import CallGrouping, call_figures
from hotline.reports.context import ReportContext
from hotline.reports.period import Granularity, Period
from hotline.reports.rings import ring_distribution
from tests.factories import make_user
from tests.reports.scenario import SHANGHAI, LegSpec, add_call, local

MARCH = Period.days(dt.date(2026, 3, 1), dt.date(2026, 3, 31), SHANGHAI)
SPRING = Period.days(dt.date(2026, 3, 1), dt.date(2026, 4, 30), SHANGHAI)


def _agent(session: Session, name: str, extension: str) -> Agent:
    """The agent at ``extension``, created unless the test already has one."""
    found = session.scalar(select(Agent).where(Agent.extension == extension))
    if found is not None:
        return found
    agent = make_user(session, name, "agent", extension).agent
    assert agent is not None
    return agent


def build_march(session: Session) -> None:
    a, b = _agent(session, "amy", "1001"), _agent(session, "bob", "1002")
    inquiry, complaint, repair = CallCategory.INQUIRY, CallCategory.COMPLAINT, CallCategory.REPAIR
    # 07:30 local on 2 March is 23:30 UTC on 1 March: a UTC bucket would put it a day early.
    add_call(session, local("2026-03-02 07:30"), agent=a, wait=20, talk=100, rings=3,
             category=inquiry, queue="general", legs=(LegSpec(a, "ANSWER", 2),))
    add_call(session, local("2026-03-02 07:45"), agent=a, wait=30, talk=200, rings=4,
             category=complaint, queue="complaints", legs=(LegSpec(a, "ANSWER", 1),))
    add_call(session, local("2026-03-02 09:10"), agent=b, wait=40, talk=60, rings=2,
             category=inquiry, queue="general",
             legs=(LegSpec(a, "NOANSWER"), LegSpec(b, "ANSWER", 4)))
    add_call(session, local("2026-03-02 09:20"), disposition=CallDisposition.ABANDONED, rings=3,
             queue="general", legs=(LegSpec(b, "CANCEL"),))
    add_call(session, local("2026-03-02 09:50"), disposition=CallDisposition.MISSED, rings=6,
             queue="general", legs=(LegSpec(a, "NOANSWER"), LegSpec(b, "NOANSWER")))
    add_call(session, local("2026-03-03 10:00"), agent=b, wait=10, talk=50, rings=5,
             category=repair, legs=(LegSpec(b, "ANSWER", 6),))
    add_call(session, local("2026-03-31 23:30"), agent=a, wait=20, talk=40, rings=3,
             category=inquiry, legs=(LegSpec(a, "ANSWER", 3),))
    # April in Shanghai, still 31 March in UTC.
    add_call(session, local("2026-04-01 00:30"), disposition=CallDisposition.IVR_ONLY, rings=3)
    # Not inbound, and before the period: neither counts in March.
    add_call(session, local("2026-03-02 08:00"), direction=CallDirection.OUTBOUND, agent=a,
             wait=5, talk=30)
    add_call(session, local("2026-02-28 23:59"), agent=b, wait=5, talk=5)


@pytest.fixture
def march(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as s:
        build_march(s)
    return sessions


def test_period_totals(march: sessionmaker[Session], ctx: ReportContext) -> None:
    with march() as s:
        totals = call_figures(s, MARCH, ctx, CallGrouping.DAY).summary
    assert totals == {
        "offered": 7, "answered": 5, "abandoned": 1, "missed": 1,
        "asa_seconds": 24.0,  # (20+30+40+10+20)/5
        "aht_seconds": 90.0,  # (100+200+60+50+40)/5
        "ring_answered": 7, "early": 1, "in_window": 5, "late": 1,
        "service_level": round(5 / 7, 4),
    }


def test_by_day_in_shanghai_time(march: sessionmaker[Session], ctx: ReportContext) -> None:
    with march() as s:
        table = call_figures(s, MARCH, ctx, CallGrouping.DAY)
    rows = {r["bucket"]: r for r in table.rows}
    assert len(table.rows) == 31 and table.rows[0]["bucket"] == "2026-03-01"
    assert rows["2026-03-01"]["offered"] == 0
    day2 = rows["2026-03-02"]
    assert (day2["offered"], day2["answered"], day2["abandoned"], day2["missed"]) == (5, 3, 1, 1)
    assert day2["asa_seconds"] == 30.0 and day2["aht_seconds"] == 120.0
    assert (day2["early"], day2["in_window"], day2["late"]) == (1, 3, 1)
    assert day2["service_level"] == 0.6
    assert rows["2026-03-03"]["offered"] == 1 and rows["2026-03-03"]["service_level"] == 1.0
    assert rows["2026-03-31"]["offered"] == 1


def test_by_hour_of_day_and_hour(march: sessionmaker[Session], ctx: ReportContext) -> None:
    with march() as s:
        profile = call_figures(s, MARCH, ctx, CallGrouping.HOUR_OF_DAY)
        hourly = call_figures(s, MARCH, ctx, CallGrouping.HOUR)
    offered = {r["bucket"]: r["offered"] for r in profile.rows}
    assert offered == {h: {7: 2, 9: 3, 10: 1, 23: 1}.get(h, 0) for h in range(24)}
    assert len(hourly.rows) == 31 * 24
    nonzero = {r["bucket"]: r["offered"] for r in hourly.rows if r["offered"]}
    assert nonzero == {"2026-03-02 07:00": 2, "2026-03-02 09:00": 3, "2026-03-03 10:00": 1,
                       "2026-03-31 23:00": 1}


def test_by_week_and_month(march: sessionmaker[Session], ctx: ReportContext) -> None:
    with march() as s:
        weeks = call_figures(s, SPRING, ctx, CallGrouping.WEEK)
        months = call_figures(s, SPRING, ctx, CallGrouping.MONTH)
    assert {r["bucket"]: r["offered"] for r in months.rows} == {"2026-03": 7, "2026-04": 1}
    by_week = {r["bucket"]: r["offered"] for r in weeks.rows}
    assert weeks.rows[0]["bucket"] == "2026-02-23"  # the Monday before 1 March (a Sunday)
    assert by_week["2026-03-02"] == 6 and by_week["2026-03-30"] == 2
    assert sum(by_week.values()) == 8


def test_by_category_and_queue(march: sessionmaker[Session], ctx: ReportContext) -> None:
    with march() as s:
        cats = call_figures(s, MARCH, ctx, CallGrouping.CATEGORY)
        queues = call_figures(s, MARCH, ctx, CallGrouping.QUEUE)
    by_cat = {r["bucket"]: (r["offered"], r["answered"]) for r in cats.rows}
    assert by_cat == {"inquiry": (3, 3), "complaint": (1, 1), "repair": (1, 1), "(none)": (2, 0)}
    by_queue = {r["bucket"]: (r["offered"], r["abandoned"], r["missed"]) for r in queues.rows}
    assert by_queue == {"general": (4, 1, 1), "complaints": (1, 0, 0), "(none)": (2, 0, 0)}


def test_ring_distribution(march: sessionmaker[Session], ctx: ReportContext) -> None:
    with march() as s:
        table = ring_distribution(s, MARCH, ctx)
    assert {r["ring"]: r["calls"] for r in table.rows} == {1: 0, 2: 1, 3: 3, 4: 1, 5: 1, 6: 1}
    assert [r["class"].split()[1] for r in table.rows[:3]] == ["early", "early", "in"]
    assert table.summary["early_share"] == round(1 / 7, 4)
    assert table.summary["in_window_share"] == round(5 / 7, 4)
    assert table.summary["late_share"] == round(1 / 7, 4)


def test_agent_figures(march: sessionmaker[Session], ctx: ReportContext) -> None:
    with march() as s:
        rows = {r["extension"]: r for r in agent_figures(s, MARCH, ctx).rows}
    amy, bob = rows["1001"], rows["1002"]
    assert (amy["offered"], amy["answered"], amy["ring_no_answer"]) == (5, 3, 2)
    assert amy["abandoned_ringing"] == 0
    assert amy["asa_seconds"] == round(70 / 3, 1) and amy["aht_seconds"] == round(340 / 3, 1)
    assert amy["talk_seconds"] == 340.0
    assert amy["service_level"] == 1.0 and amy["agent_in_window"] == round(1 / 3, 4)
    assert (bob["offered"], bob["answered"], bob["ring_no_answer"]) == (4, 2, 1)
    assert bob["abandoned_ringing"] == 1  # the caller hung up while bob's phone rang
    assert bob["asa_seconds"] == 25.0 and bob["aht_seconds"] == 55.0
    assert bob["service_level"] == 0.5 and bob["agent_in_window"] == 0.5


def test_daylight_saving_zone_buckets_by_local_time(
    sessions: sessionmaker[Session], ctx: ReportContext
) -> None:
    """In a zone with daylight saving the local hour moves by one at the change; SQLite (no
    zones) must agree with PostgreSQL and with Python."""
    ny = ZoneInfo("America/New_York")
    period = Period.days(dt.date(2026, 3, 7), dt.date(2026, 3, 9), ny)  # DST starts 8 March
    moments = [local("2026-03-07 09:15", ny), local("2026-03-08 01:30", ny),
               local("2026-03-08 03:30", ny), local("2026-03-09 09:15", ny),
               local("2026-03-09 23:59", ny)]
    with sessions.begin() as s:
        for m in moments:
            add_call(s, m, disposition=CallDisposition.ABANDONED)
    ny_ctx = ReportContext(ctx.policy, ny, ctx.calendar)
    with sessions() as s:
        hourly = call_figures(s, period, ny_ctx, CallGrouping.HOUR)
        daily = call_figures(s, period, ny_ctx, CallGrouping.DAY)
    expected = {m.astimezone(ny).strftime("%Y-%m-%d %H:00") for m in moments}
    assert {r["bucket"] for r in hourly.rows if r["offered"]} == expected
    assert len(hourly.rows) == 24 + 23 + 24  # the spring-forward day has 23 hours
    assert [r["offered"] for r in daily.rows] == [1, 2, 2]
    assert len(period.offset_segments()) == 2
    assert period.bucket_labels(Granularity.DAY) == ["2026-03-07", "2026-03-08", "2026-03-09"]
