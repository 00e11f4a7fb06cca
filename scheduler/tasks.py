"""Creating outbound tasks, idempotently: the one way every rule (and the AMI bridge, for
dropped calls) stores a task.

A task is identified by its ``dedupe_key`` (rule + source, e.g. ``dropped-call:pbx1:1700.12``);
inserting a key that exists already is a no-op, inside the database (``ON CONFLICT DO
NOTHING``), so two rule runs racing on two machines still create one task.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline.db.models import OutboundTask
from hotline.domain.enums import TaskStatus, TaskType
from hotline.settings import Settings
from scheduler.windows import WindowPolicy

log = logging.getLogger(__name__)

# Which tasks go first when more are due than can be dialled: a caller cut off mid-call
# first (rule 1.15), then promised callbacks and deadlines measured in hours, then campaigns.
PRIORITY: dict[TaskType, int] = {
    TaskType.DROPPED_CALL: 0,
    TaskType.REQUESTED: 1,
    TaskType.CASE_REPLY: 2,
    TaskType.COMPLAINT_RETURN_VISIT: 3,
    TaskType.FOLLOW_UP: 4,
    TaskType.FIRST_CONTACT: 5,
    TaskType.BIRTHDAY: 6,
    TaskType.FESTIVAL: 7,
    TaskType.TOP_CUSTOMERS: 8,
    TaskType.MEMBER_RETURN_VISIT: 9,
}

# Types whose task is a return visit: reaching the customer is not enough, the task closes
# only with a complete ReturnVisit record (rules 5.5, 5.8).
RETURN_VISIT_TYPES = frozenset(
    {TaskType.COMPLAINT_RETURN_VISIT, TaskType.MEMBER_RETURN_VISIT, TaskType.FOLLOW_UP}
)

# Greetings are pointless after their day: past the deadline they are cancelled, not dialled.
EXPIRE_AT_DEADLINE = frozenset({TaskType.BIRTHDAY, TaskType.FESTIVAL})

OPEN_STATUSES = (TaskStatus.PENDING, TaskStatus.DIALLING)


def priority_order():  # type: ignore[no-untyped-def]
    """SQL expression ranking tasks by :data:`PRIORITY` (lower first)."""
    return case(
        {t.value: rank for t, rank in PRIORITY.items()}, value=OutboundTask.type, else_=99
    )


@dataclass(frozen=True)
class TaskSpec:
    type: TaskType
    phone: str
    due_at: dt.datetime
    dedupe_key: str
    deadline_at: dt.datetime | None = None
    customer_id: int | None = None
    agent_id: int | None = None
    call_id: int | None = None
    case_id: int | None = None
    complaint_id: int | None = None
    campaign_id: int | None = None
    note: str = ""


def _insert_for(session: Session):  # type: ignore[no-untyped-def]
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(OutboundTask)
    if name == "sqlite":
        return sqlite.insert(OutboundTask)
    return insert(OutboundTask)  # pragma: no cover - only two databases are supported


def add_tasks(
    session: Session,
    specs: Iterable[TaskSpec],
    settings: Settings,
    policy: WindowPolicy | None = None,
    *,
    batch: int = 1000,
) -> list[int]:
    """Store the tasks whose dedupe key is new; returns the ids of those created."""
    policy = policy or WindowPolicy(settings)
    created: list[int] = []
    rows: list[dict[str, object]] = []

    def flush() -> None:
        if not rows:
            return
        stmt = (
            _insert_for(session)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(OutboundTask.id)
        )
        created.extend(session.scalars(stmt, rows).all())
        rows.clear()

    now = dt.datetime.now(dt.UTC)
    for spec in specs:
        if spec.due_at.tzinfo is None:
            raise ValueError(f"task {spec.dedupe_key}: naive due time")
        rows.append(
            {
                "type": spec.type,
                "phone": spec.phone,
                "due_at": spec.due_at,
                "next_attempt_at": spec.due_at,
                "deadline_at": spec.deadline_at,
                "window": policy.window_for(spec.type),
                "attempts": 0,
                "max_attempts": settings.scheduler.max_attempts,
                "status": TaskStatus.PENDING,
                "dedupe_key": spec.dedupe_key,
                "customer_id": spec.customer_id,
                "agent_id": spec.agent_id,
                "call_id": spec.call_id,
                "case_id": spec.case_id,
                "complaint_id": spec.complaint_id,
                "campaign_id": spec.campaign_id,
                "note": spec.note,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(rows) >= batch:
            flush()
    flush()
    if created:
        log.info("created %d outbound task(s)", len(created))
    return created


def add_task(
    session: Session, spec: TaskSpec, settings: Settings, policy: WindowPolicy | None = None
) -> int | None:
    """Store one task; its id, or None when its dedupe key exists already."""
    ids = add_tasks(session, [spec], settings, policy)
    return ids[0] if ids else None


def requested_dedupe_key(pbx: str, linkedid: str) -> str:
    """One callback request per call, whoever stores it first."""
    return f"requested:{pbx}:{linkedid}"


def requested_callback(
    policy: WindowPolicy,
    *,
    phone: str,
    pbx: str,
    linkedid: str,
    asked_at: dt.datetime,
    customer_id: int | None = None,
    call_id: int | None = None,
) -> TaskSpec:
    """The task of a caller who asked to be called back (disposition ``callback_requested``):
    any agent, due when the next calling window of its type opens (at once when it is open),
    and to be dialled before that window closes.

    Built here for both who store it: the IVR at the moment the caller asks, and the
    ``requested`` rule's sweep of stored calls; they share the dedupe key, so the call gets one
    task with one due time and deadline whichever comes first."""
    window = policy.window_for(TaskType.REQUESTED)
    opens, closes = policy.interval(asked_at, window)
    return TaskSpec(
        type=TaskType.REQUESTED,
        phone=phone,
        due_at=max(opens, asked_at),
        deadline_at=closes,
        dedupe_key=requested_dedupe_key(pbx, linkedid),
        customer_id=customer_id,
        call_id=call_id,
    )

