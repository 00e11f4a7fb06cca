"""Helpers for the scheduler's end-to-end tests: compressed scheduler settings, tasks, what the
database says about attempts, and what pbxsim's truth log says was really dialled."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hotline.db.models import Call, OutboundAttempt, OutboundTask
from hotline.db.session import session_factory, transaction
from hotline.domain.enums import AttemptState, TaskType
from hotline.settings import Settings
from scheduler.tasks import TaskSpec, add_task


def scheduler_settings(**overrides: Any) -> dict[str, Any]:
    """The ``[scheduler]`` section for a compressed-time run: short retry delays, a short
    lease (so a new leader takes over quickly), frequent reconciliation."""
    values: dict[str, Any] = {
        "mode": "agent_first",
        "retries": 0,
        "retry_delay_seconds": 1.0,
        "agent_retry_delay_seconds": 0.5,
        "max_concurrent_calls": 10,
        "new_calls_per_second": 50,
        "tick_seconds": 3600,
        "lease_seconds": 1.0,
        "standby_poll_seconds": 0.2,
        "reconcile_seconds": 0.3,
    }
    values.update(overrides)
    return values


def new_task(engine: Engine, settings: Settings, phone: str, *, key: str,
             type: TaskType = TaskType.REQUESTED, agent_id: int | None = None) -> int:
    with transaction(session_factory(engine)) as s:
        task_id = add_task(s, TaskSpec(type=type, phone=phone, due_at=dt.datetime.now(dt.UTC),
                                       dedupe_key=key, agent_id=agent_id), settings)
    assert task_id is not None
    return task_id


def task_row(engine: Engine, task_id: int) -> OutboundTask:
    with session_factory(engine)() as s:
        task = s.get(OutboundTask, task_id)
        assert task is not None
        return task


def attempts_of(engine: Engine, task_id: int) -> list[OutboundAttempt]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(OutboundAttempt).where(OutboundAttempt.task_id == task_id)
                              .order_by(OutboundAttempt.id)))


def all_attempts(engine: Engine) -> list[OutboundAttempt]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(OutboundAttempt).order_by(OutboundAttempt.id)))


def calls_of_attempt(engine: Engine, attempt_id: int) -> list[Call]:
    with session_factory(engine)() as s:
        return list(s.scalars(select(Call).where(Call.attempt_id == attempt_id)))


def settled_count(engine: Engine, task_id: int) -> int:
    return sum(a.state is AttemptState.SETTLED for a in attempts_of(engine, task_id))


def originate_records(truth: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """pbxsim's truth records of calls placed by an Originate carrying HOTLINE_ATTEMPT_ID."""
    return [r for r in truth if r.get("originate") and r["originate"].get("attempt_id")]


def originates_per_attempt(truth: Iterable[dict[str, Any]]) -> Counter[int]:
    return Counter(int(r["originate"]["attempt_id"]) for r in originate_records(truth))


def originates_per_task(truth: Iterable[dict[str, Any]], engine: Engine) -> Counter[int]:
    """How many Originates really reached the PBX for each task (attempt -> task from the
    database)."""
    task_of = {a.id: a.task_id for a in all_attempts(engine)}
    return Counter(task_of[a] for a in originates_per_attempt(truth).elements())


def at(ts: str) -> float:
    return dt.datetime.fromisoformat(ts).timestamp()


async def wait_until(predicate: Callable[[], bool], timeout: float = 15.0,
                     step: float = 0.05, what: str = "condition") -> None:
    """Poll ``predicate`` (a database query, usually) in a worker thread, so that the test
    does not stall the event loop that hotline and pbxsim share."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout:g} s")
        await asyncio.sleep(step)


# For end-to-end tests whose subject is not the database (the wall-time budget is shared):
# run them on one engine only.
sqlite_only = pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
postgres_only = pytest.mark.parametrize(
    "db_kind", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
