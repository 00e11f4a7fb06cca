"""The daily complaint and feedback digest: its content, building it by hand or by the
working-day job at the configured time, catch-up after downtime, and downloads."""

from __future__ import annotations

import datetime as dt
import io

from apscheduler.schedulers.background import BackgroundScheduler
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import CallNote, Complaint, Digest, User
from hotline.domain.enums import CallCategory, NoteOutcome
from hotline.reports.digest_job import JOB_ID, add_digest_job, catch_up, run_digest_job
from hotline.settings import Settings
from tests.reports.scenario import local


def _records(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        amy = s.scalar(select(User).where(User.username == "amy"))
        s.add_all([
            Complaint(created_by_id=amy.id, description="送水迟到", received_at=local("2026-03-02 09:00"),
                      due_at=local("2026-03-04 09:00")),
            Complaint(created_by_id=amy.id, description="上周的", received_at=local("2026-02-25 09:00"),
                      due_at=local("2026-02-27 09:00"), escalation_level=1),
            Complaint(created_by_id=amy.id, description="昨天的", received_at=local("2026-03-01 09:00"),
                      due_at=local("2026-03-03 09:00")),
            CallNote(author_id=amy.id, category=CallCategory.SUGGESTION, content="希望延长服务时间",
                     outcome=NoteOutcome.ACCEPTED, created_at=local("2026-03-02 11:00")),
            CallNote(author_id=amy.id, category=CallCategory.INQUIRY, content="问价格",
                     outcome=NoteOutcome.ACCEPTED, created_at=local("2026-03-02 11:05")),
            CallNote(author_id=amy.id, category=CallCategory.COMPLAINT, content="明天的",
                     outcome=NoteOutcome.ACCEPTED, created_at=local("2026-03-03 11:05")),
        ])


def test_digest_content_and_downloads(bearer, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    _records(sessions)
    sup = bearer("sup")
    clock.now = local("2026-03-02 20:15")
    built = sup.post("/api/digests/2026-03-02/build")
    assert built.status_code == 200, built.text
    counts = built.json()["counts"]
    assert counts["complaints_received"] == 1
    assert counts["complaints_overdue"] == 1  # due 27 Feb, still open
    assert counts["complaints_escalated"] == 1
    assert counts["feedback_records"] == 1  # the suggestion; inquiries are not feedback
    content = built.json()["content"]
    assert content["complaints_received"][0]["description"] == "送水迟到"
    assert content["feedback"][0]["content"] == "希望延长服务时间"
    assert content["until"] == "2026-03-02 20:15"
    listed = sup.get("/api/digests").json()
    assert [d["day"] for d in listed] == ["2026-03-02"]
    xlsx = sup.get("/api/digests/2026-03-02?format=xlsx")
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert "当日受理投诉" in wb.sheetnames
    assert any("送水迟到" in str(v) for row in wb["当日受理投诉"].values for v in row)
    csv_text = sup.get("/api/digests/2026-03-02?format=csv").content.decode("utf-8-sig")
    assert "希望延长服务时间" in csv_text
    assert sup.get("/api/digests/2026-03-01").status_code == 404
    future = sup.post("/api/digests/2026-03-09/build")
    assert future.status_code == 422 and future.json()["detail"][0]["field"] == "day"


def test_rebuilding_a_day_replaces_it(bearer, sessions, clock) -> None:  # type: ignore[no-untyped-def]
    sup = bearer("sup")
    clock.now = local("2026-03-02 18:00")
    assert sup.post("/api/digests/2026-03-02/build").json()["counts"]["complaints_received"] == 0
    _records(sessions)
    clock.now = local("2026-03-02 20:15")
    assert sup.post("/api/digests/2026-03-02/build").json()["counts"]["complaints_received"] == 1
    with sessions() as s:
        assert len(s.scalars(select(Digest)).all()) == 1


def test_job_builds_on_working_days_only(engine: Engine, sessions, users) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    _records(sessions)
    monday = local("2026-03-02 20:15")
    assert run_digest_job(engine, settings, monday) is not None
    saturday = local("2026-03-07 20:15")
    assert run_digest_job(engine, settings, saturday) is None
    # 1 Oct 2026 is National Day: a holiday, no digest.
    assert run_digest_job(engine, settings, local("2026-10-01 20:15")) is None
    with sessions() as s:
        assert [d.day for d in s.scalars(select(Digest))] == [dt.date(2026, 3, 2)]


def test_job_fires_at_the_configured_local_time(engine: Engine) -> None:
    settings = Settings(reports={"digest_at": "20:05"})
    scheduler = BackgroundScheduler(timezone="UTC")
    job = add_digest_job(scheduler, engine, settings)
    assert job.id == JOB_ID
    nxt = job.trigger.get_next_fire_time(None, local("2026-03-02 12:00"))
    assert nxt.astimezone(dt.UTC) == local("2026-03-02 20:05")
    default = add_digest_job(scheduler, engine, Settings()).trigger
    assert default.get_next_fire_time(None, local("2026-03-02 21:00")).astimezone(
        dt.UTC) == local("2026-03-03 20:15")


def test_catch_up_after_downtime(engine: Engine, sessions, users) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    assert catch_up(engine, settings, local("2026-03-02 19:00")) is None  # not yet time
    first = catch_up(engine, settings, local("2026-03-02 22:00"))
    assert first is not None
    assert catch_up(engine, settings, local("2026-03-02 23:00")) is None  # already built
    with sessions() as s:
        assert s.get(Digest, first).day == dt.date(2026, 3, 2)
