"""Outbound work: callbacks and return visits the scheduler dials inside calling windows, each
dial an attempt row written before its Originate is sent (see scheduler/dialler.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base, Phone, UTCDateTime, e164, enum_column, not_blank
from hotline.domain.enums import (
    AttemptState,
    CallingWindow,
    CallOutcome,
    CampaignStatus,
    TaskStatus,
    TaskType,
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OutboundTask(Base):
    __tablename__ = "outbound_tasks"
    __table_args__ = (
        e164("phone"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("attempts <= max_attempts", name="attempts_within_max"),
        Index("ix_outbound_tasks_status_due", "status", "due_at"),
        Index("ix_outbound_tasks_agent_status", "agent_id", "status"),
        Index("ix_outbound_tasks_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_outbound_tasks_campaign_id", "campaign_id"),
        Index("ix_outbound_tasks_customer_type", "customer_id", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[TaskType] = mapped_column(enum_column(TaskType, "type"))
    phone: Mapped[str] = mapped_column(Phone)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    # The agent who should make the call (the same agent for a dropped call, rule 1.15);
    # None: any agent.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # What the task came from, for deadlines and reports.
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    complaint_id: Mapped[int | None] = mapped_column(
        ForeignKey("complaints.id", ondelete="SET NULL")
    )
    return_visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("return_visits.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("return_visit_campaigns.id", ondelete="SET NULL")
    )
    # The earliest moment to dial and the deadline of the rule that created the task.
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the next attempt may start: due_at at first (so any writer — the bridge's dropped
    # calls, the IVR's callback requests, the rules — can create a task without knowing it),
    # pushed back by retries. The calling window is applied on top of it when planning.
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=lambda ctx: ctx.get_current_parameters()["due_at"]
    )
    window: Mapped[CallingWindow] = mapped_column(
        enum_column(CallingWindow, "window"), default=CallingWindow.WORKING_HOURS
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[TaskStatus] = mapped_column(
        enum_column(TaskStatus, "status"), default=TaskStatus.PENDING
    )
    outcome: Mapped[CallOutcome | None] = mapped_column(enum_column(CallOutcome, "outcome"))
    # Makes rule runs idempotent: the same rule firing twice for the same source creates one
    # task (e.g. "dropped-call:pbx1:1700000000.12").
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    # Set when the task was handed to someone else (agent on leave, overdue): who had it.
    original_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    reassigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    completed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OutboundAttempt(Base):
    """One dial of a task. Written (committed) before its Originate is sent, with ActionID
    ``attempt-<id>``; never sent twice (scheduler/dialler.py)."""

    __tablename__ = "outbound_attempts"
    __table_args__ = (
        Index("ix_outbound_attempts_task_id", "task_id"),
        Index("ix_outbound_attempts_state", "state"),
        # At most one unsettled attempt per task, whatever the number of schedulers: the
        # database itself refuses a second concurrent dial of one task.
        Index(
            "uq_outbound_attempts_open_task",
            "task_id",
            unique=True,
            sqlite_where=text("state <> 'settled'"),
            postgresql_where=text("state <> 'settled'"),
        ),
        CheckConstraint(
            "state <> 'settled' OR (outcome IS NOT NULL AND settled_at IS NOT NULL)",
            name="settled_has_outcome",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("outbound_tasks.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # The leader epoch of the scheduler that wrote it (fencing, see scheduler/leader.py).
    epoch: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    state: Mapped[AttemptState] = mapped_column(
        enum_column(AttemptState, "state"), default=AttemptState.PREPARED
    )
    # "attempt-<id>", set in the same transaction that inserts the row.
    action_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    connected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(String(128))
    uniqueid: Mapped[str | None] = mapped_column(String(64))
    originate_reason: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[CallOutcome | None] = mapped_column(enum_column(CallOutcome, "outcome"))
    # True when the agent's leg failed (agent first): the customer was never dialled, so the
    # attempt does not use up one of the task's attempts.
    agent_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str] = mapped_column(String(255), default="")


class ReturnVisitCampaign(Base):
    """A return-visit campaign that must reach 100% of member customers (rule 5.7); it cannot
    be closed while any member is not visited."""

    __tablename__ = "return_visit_campaigns"
    __table_args__ = (not_blank("name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[CampaignStatus] = mapped_column(
        enum_column(CampaignStatus, "status"), default=CampaignStatus.OPEN
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SchedulerLeader(Base):
    """The single row naming the scheduler that may dial; ``epoch`` grows at every election."""

    __tablename__ = "scheduler_leader"

    id: Mapped[int] = mapped_column(primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    holder: Mapped[str] = mapped_column(String(255), default="")
    acquired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# APScheduler 3's SQLAlchemyJobStore table, declared exactly as the job store declares it so
# that Alembic (not the job store at start-up) creates it, and the drift test covers it.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
