"""What an attempt's outcome does to its task: retries with the configured count and delay,
done (or waiting for its return-visit record), or failed. Runs inside the caller's
transaction; called from the dialler, from event handlers and from crash recovery alike."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from hotline.db.models import Customer, OutboundAttempt, OutboundTask
from hotline.domain.enums import AttemptState, CallOutcome, TaskStatus
from hotline.settings import Settings
from scheduler.tasks import RETURN_VISIT_TYPES

# OriginateResponse Reason (the last control frame, protocol-notes.md) -> customer outcome.
REASON_OUTCOMES: dict[int, CallOutcome] = {
    4: CallOutcome.ANSWERED,
    3: CallOutcome.NO_ANSWER,
    5: CallOutcome.BUSY,
    8: CallOutcome.FAILED,  # congestion
    1: CallOutcome.FAILED,  # hung up
    0: CallOutcome.FAILED,  # failed to create the channel
}


def outcome_of_reason(reason: int) -> CallOutcome:
    return REASON_OUTCOMES.get(reason, CallOutcome.FAILED)


def settle(
    session: Session,
    attempt: OutboundAttempt,
    outcome: CallOutcome,
    *,
    settings: Settings,
    now: dt.datetime,
    agent_failed: bool = False,
    not_dialled: bool = False,
    no_retry: bool = False,
    detail: str = "",
) -> OutboundTask:
    """Settle ``attempt`` (once: a settled attempt is left as it is) and move its task on.

    ``no_retry``: the attempt was dialled and the customer may have been reached, but its
    outcome is unknown (scheduler/outcomes.py): the task fails rather than ring the customer
    again, and a person decides."""
    task = session.get(OutboundTask, attempt.task_id)
    assert task is not None, f"attempt {attempt.id} has no task"
    if attempt.state is AttemptState.SETTLED:
        return task
    attempt.state = AttemptState.SETTLED
    attempt.outcome = outcome
    attempt.agent_failed = agent_failed
    attempt.settled_at = now
    if detail:
        attempt.detail = detail[:255]
    if task.status is not TaskStatus.DIALLING:
        # Cancelled or closed meanwhile (campaign closed, greeting expired): nothing to move.
        session.flush()
        return task
    if not_dialled:
        # Known never to have left (the lease was lost before the send): as if not tried.
        task.attempts = max(0, task.attempts - 1)
        task.status = TaskStatus.PENDING
        session.flush()
        return task
    task.outcome = outcome
    if agent_failed:
        # The customer was never dialled: give the attempt back, try again soon.
        task.attempts = max(0, task.attempts - 1)
        task.status = TaskStatus.PENDING
        task.next_attempt_at = now + dt.timedelta(
            seconds=settings.scheduler.agent_retry_delay_seconds
        )
    elif outcome is CallOutcome.ANSWERED:
        if task.customer_id is not None:
            customer = session.get(Customer, task.customer_id)
            if customer is not None:
                customer.last_contact_at = now
        if task.type in RETURN_VISIT_TYPES:
            task.status = TaskStatus.AWAITING_RECORD
        else:
            task.status = TaskStatus.DONE
            task.completed_at = now
    elif outcome is CallOutcome.INVALID_NUMBER or no_retry:
        task.status = TaskStatus.FAILED
        task.completed_at = now
    elif task.attempts < task.max_attempts:
        task.status = TaskStatus.PENDING
        task.next_attempt_at = now + dt.timedelta(seconds=settings.scheduler.retry_delay_seconds)
    else:
        task.status = TaskStatus.FAILED
        task.completed_at = now
    session.flush()
    return task
