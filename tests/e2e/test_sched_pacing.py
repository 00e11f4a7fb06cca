"""Pacing seen from the PBX: at most N outbound calls at once and M new calls per second,
counted from pbxsim's truth log (when each originated channel was created and when it ended),
not from what the scheduler believes it did."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from hotline.domain.enums import CallOutcome, TaskStatus
from pbxsim import CustomerBehaviour
from tests.e2e.outbound import (
    at,
    attempts_of,
    new_task,
    originate_records,
    originates_per_task,
    scheduler_settings,
    sqlite_only,
    task_row,
    wait_until,
)
from tests.e2e.stack import running_stack

AT_ONCE, PER_SECOND, CALLS = 3, 2, 8
# A start counts in a one-second window as the PBX saw it, to the millisecond of the truth
# log, with no tolerance: the dialler leaves a margin of 0.1 s per second for Originates that
# reach the PBX unevenly (scheduler/pacing.py).


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    best = now = 0
    for _, step in edges:  # an end at the same instant as a start is counted first
        now += step
        best = max(best, now)
    return best


def most_started_within(starts: list[float], window: float) -> int:
    return max(sum(1 for t in starts if s <= t < s + window) for s in starts)


@sqlite_only  # the limits are the dialler's, not the database's
async def test_pacing_limits_hold_at_the_pbx(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    sched = scheduler_settings(mode="customer_first", originate_timeout_seconds=1.2,
                               max_concurrent_calls=AT_ONCE, new_calls_per_second=PER_SECOND)
    async with running_stack(tmp_path, engine, db_url, sounds, {}, scheduler=True,
                             scheduler_settings=sched) as stack:
        stack.sim.set_default_customer(CustomerBehaviour(mode="noanswer"))
        tasks = [new_task(engine, stack.settings, f"+861390000{n:04d}", key=f"t{n}")
                 for n in range(CALLS)]
        stack.runtime.scheduler.wake()  # type: ignore[union-attr]
        await wait_until(lambda: all(task_row(engine, t).status is TaskStatus.FAILED for t in tasks),
                         timeout=20, what="every customer rung once")
        truth = list(stack.sim.truth)

    assert originates_per_task(truth, engine) == {t: 1 for t in tasks}
    assert all(attempts_of(engine, t)[0].outcome is CallOutcome.NO_ANSWER for t in tasks)
    records = originate_records(truth)
    spans = [(at(r["arrived_at"]), at(r["ended_at"])) for r in records]
    starts = sorted(start for start, _ in spans)
    # Both limits were reached, and neither was exceeded.
    assert most_at_once(spans) == AT_ONCE
    assert most_started_within(starts, 1.0) == PER_SECOND
    # (8 calls at 2 per second, evenly spaced: 3.5 seconds from the first to the last, and
    # the pacer's margin: 3.85)
    assert starts[-1] - starts[0] >= (CALLS - 1) / PER_SECOND - 0.05
