"""Issue 9's busy hour, end to end: pbxsim plays ``pbxsim/scenarios/busy-hour.yaml`` (or its
first N calls, arrival rate kept) into a whole hotline, and the result is judged from outside.

The test (tests/e2e/test_busy_hour.py) and the faults benchmark (bench/busy_hour.py) share it:

* :func:`busy_hour` -- the scenario, cut to ``calls``;
* :func:`run_busy_hour` -- a :func:`tests.e2e.stack.running_stack` with the scenario's 30
  agents logged in and ready, the scheduler on (compressed), recordings swept fast; it plays
  the calls, lets the callbacks and the recordings sweep finish and returns a
  :class:`BusyHour` (the truth log and what was stored);
* :func:`judge` -- every way the outcome falls short of issue 9: the database against the
  truth log (tests/e2e/truth.py), each dropped call's callback dialled (once), each flagged
  call's recording kept with the right SHA-256, no unflagged recording left in the store or
  the spool.

Hours that close part-way (``closes_after``): the whole of hotline runs on a clock set to a
working day shortly before closing time (``clock_from``), so the later callers hear the
after-hours notice and callback offer. Its stored times are then that day's, so the truth
log's wall-clock times are shifted by the same offset before they are compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hotline.db.models import Call, OutboundAttempt, OutboundTask, Recording
from hotline.domain.enums import AttemptState, TaskStatus, TaskType
from pbxsim import AgentBehaviour, CallHandle, PbxSimulator, Scenario
from scheduler.tasks import requested_dedupe_key
from tests.e2e.outbound import scheduler_settings
from tests.e2e.stack import REPO, Stack, clock_from, running_stack
from tests.e2e.truth import Outage, compare_db_with_truth, dropped_call

SCENARIO = REPO / "pbxsim" / "scenarios" / "busy-hour.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Unflagged recordings go at the first sweep after their call's end (grace 0).
# Hotline-clock seconds before closing time within which a dropped call's callback may
# already wait for the next opening (the drop seen, or the dialler reached, after closing).
CLOSING_MARGIN = dt.timedelta(seconds=10)
FAST_RECORDINGS = {"flag_grace_minutes": 0, "sweep_seconds": 0.25, "settle_seconds": 0.2}
# Working hours of the after-hours run; the clock starts on this (working) day before 18:00.
HOURS_DAY = dt.date(2026, 3, 3)  # a Tuesday
HOURS = {"open": "08:00", "close": "18:00", "rest_start": None, "rest_end": None,
         "calendar": "CN"}


def busy_hour(calls: int | None = None) -> Scenario:
    """busy-hour.yaml, its first ``calls`` calls (same arrival rate) or all 2,000."""
    scenario = Scenario.load(SCENARIO)
    if calls is not None:
        scenario.model.calls = calls
    return scenario


def agent_behaviours(scenario: Scenario) -> dict[str, AgentBehaviour]:
    return {spec.extension: spec.behaviour for spec in scenario.agents()}


@dataclass
class BusyHour:
    """What one run produced: the truth log (times as hotline's clock read them), the fault
    windows in which the bridge could not see the PBX, and when things happened."""

    truth: list[dict[str, Any]]
    settings: Any
    agents: dict[str, int]
    outages: list[Outage] = field(default_factory=list)
    closed_at: dt.datetime | None = None  # when the hours closed (None: open all along)
    wall_seconds: float = 0.0
    scenario_seconds: float = 0.0
    refused: int = 0  # calls that arrived while the PBX was down


def shift_truth(records: Iterable[dict[str, Any]], offset: dt.timedelta) -> list[dict[str, Any]]:
    """The truth records with every time (``*_at`` and a flag's ``at``) moved by ``offset``:
    the truth log is in real wall-clock time, a run on a set clock stores that clock's."""
    def move(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: move(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v, key) for v in value]
        if isinstance(value, str) and (key.endswith("_at") or key == "at"):
            with contextlib.suppress(ValueError):
                return (dt.datetime.fromisoformat(value) + offset).isoformat(timespec="milliseconds")
        return value

    if not offset:
        return list(records)
    return [move(r) for r in records]


async def bring_back_paused(stack: Stack, every: float) -> None:
    """A supervisor who sets agents paused for ring-no-answer ready again, now and then (the
    never-answering phone keeps being offered calls, as on a real floor)."""
    bridge = stack.runtime.bridge
    while True:
        await asyncio.sleep(every)
        for live in list(bridge.agents):
            if live.reason == "ring-no-answer":
                with contextlib.suppress(Exception):
                    await bridge.set_ready(live.info.agent_id)


def busy_hour_settings(speed: float) -> dict[str, Any]:
    """``running_stack`` options of a busy-hour run at ``speed``."""
    return {
        "speed": speed,
        "scheduler": True,
        # agents' callbacks are retried soon (the agent was busy), customers' not at all
        "scheduler_settings": scheduler_settings(
            agent_retry_delay_seconds=2.0, max_concurrent_calls=10, new_calls_per_second=10,
            reconcile_seconds=1.0, tick_seconds=1.0),
        "wrap_up_seconds": 30 / speed,
        "timestamp_events": True,
        "recordings": FAST_RECORDINGS,
    }


@asynccontextmanager
async def busy_hour_stack(tmp: Path, engine: Engine, db_url: str, sounds: Path,
                          scenario: Scenario, *, speed: float, closes_after: float | None = None,
                          **overrides: Any) -> AsyncIterator[tuple[Stack, dt.timedelta]]:
    """The running stack; with ``closes_after`` (real seconds) the hours close that long after
    it starts. Yields the stack and the offset of hotline's clock from the real one."""
    options = {**busy_hour_settings(speed), **overrides}
    offset = dt.timedelta(0)
    if closes_after is not None:
        close = dt.datetime.combine(HOURS_DAY, dt.time(18, 0), SHANGHAI)
        moment = close - dt.timedelta(seconds=closes_after)
        offset = moment.astimezone(dt.UTC) - dt.datetime.now(dt.UTC)
        options["clock"] = clock_from(moment)
        options["hours"] = HOURS
    async with running_stack(tmp, engine, db_url, sounds, agent_behaviours(scenario),
                             **options) as stack:
        yield stack, offset


@dataclass
class Played:
    """The calls placed (their truth records, once ended) and those that never reached the
    PBX because it was down when they arrived (a carrier gets no answer from a dead PBX)."""

    records: list[dict[str, Any]]
    refused: int = 0


async def play(sim: PbxSimulator, scenario: Scenario, *,
               alongside: Iterable[Coroutine[Any, Any, Any]] = (),
               accepting: Callable[[], bool] = lambda: True) -> Played:
    """Place the scenario's calls at their arrival times and wait for every one to end, with
    ``alongside`` (faults, a supervisor) running meanwhile: those still running when the
    last call ended are cancelled. A call arriving while ``accepting()`` is false is not
    placed (counted as refused)."""
    default, numbers = scenario.customers()
    if default is not None:
        sim.set_default_customer(default)
    for number, behaviour in numbers.items():
        sim.set_customer(number, behaviour)
    side = [asyncio.ensure_future(c) for c in alongside]
    handles: list[CallHandle] = []
    refused = 0
    try:
        start = time.monotonic()
        for planned in scenario.plan():
            delay = planned.at / sim.clock.speed - (time.monotonic() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            if not accepting():
                refused += 1
                continue
            handles.append(await sim.place_call(planned.spec))
        records = list(await asyncio.gather(*(h.ended for h in handles)))
        for task in side:
            if task.done():
                task.result()  # a fault that failed says so
    finally:
        for task in side:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    await sim.flush()
    return Played(records, refused)


def _open_callbacks(engine: Engine, before: dt.datetime | None) -> int:
    """Dropped-call tasks still waiting to be dialled or settled (of calls that dropped while
    the hotline was open, if ``before``)."""
    with Session(engine) as s:
        tasks = s.scalars(select(OutboundTask).where(OutboundTask.type == TaskType.DROPPED_CALL)).all()
        return sum(1 for t in tasks if t.status in (TaskStatus.PENDING, TaskStatus.DIALLING)
                   and (before is None or t.due_at < before))


async def settle(stack: Stack, *, closed_at: dt.datetime | None = None, timeout: float = 60.0) -> None:
    """After the last call: every callback due while open dialled and settled, then the
    scheduler stopped (no new dial starts), the PBX idle, the bridge's writes done and the
    recordings swept. What is not done by ``timeout`` is left for judge() to report."""
    deadline = time.monotonic() + timeout
    before = None if closed_at is None else closed_at - CLOSING_MARGIN
    while await asyncio.to_thread(_open_callbacks, stack.engine, before):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    if stack.runtime.scheduler is not None:
        await stack.runtime.scheduler.stop()
    with contextlib.suppress(TimeoutError):
        await stack.sim.wait_idle(max(1.0, deadline - time.monotonic()))
    await stack.sim.flush()
    await stack.runtime.bridge.writer.flush(max(1.0, deadline - time.monotonic()))  # type: ignore[attr-defined]
    spool = stack.settings.recordings.spool_dir
    while spool.is_dir() and any(p.is_file() for p in spool.iterdir()):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(2 * stack.settings.recordings.sweep_seconds)  # a last sweep


async def run_busy_hour(tmp: Path, engine: Engine, db_url: str, sounds: Path, *,
                        calls: int | None = None, speed: float,
                        closes_after: float | None = None,
                        during: Callable[[Stack], Coroutine[Any, Any, Any]] | None = None,
                        accepting: Callable[[], bool] = lambda: True,
                        **overrides: Any) -> BusyHour:
    """Play the busy hour through the whole of hotline and return what happened."""
    scenario = busy_hour(calls)
    started = time.monotonic()
    async with busy_hour_stack(tmp, engine, db_url, sounds, scenario, speed=speed,
                               closes_after=closes_after, **overrides) as (stack, offset):
        closed_at = None
        if closes_after is not None:
            closed_at = dt.datetime.combine(HOURS_DAY, dt.time(18, 0), SHANGHAI).astimezone(dt.UTC)
        alongside = [bring_back_paused(stack, every=60 / speed)]
        if during is not None:
            alongside.append(during(stack))
        played = await play(stack.sim, scenario, alongside=alongside, accepting=accepting)
        playing = time.monotonic() - started
        await settle(stack, closed_at=closed_at)
        truth = shift_truth(stack.sim.truth, offset)
        return BusyHour(truth, stack.settings, stack.agents, closed_at=closed_at,
                        wall_seconds=time.monotonic() - started, scenario_seconds=playing,
                        refused=played.refused)


# -- judging ------------------------------------------------------------------------------------

@dataclass
class Verdict:
    """Every shortfall, by kind (empty lists: the run did everything issue 9 asks), and the
    figures the faults benchmark prints."""

    truth_problems: list[str]
    callback_problems: list[str]
    recording_problems: list[str]
    calls: int = 0
    lost: int = 0
    duplicated: int = 0
    callbacks_dialled_twice: int = 0
    dropped: int = 0
    flagged: int = 0
    after_hours: int = 0
    callback_requests: int = 0

    @property
    def problems(self) -> list[str]:
        return self.truth_problems + self.callback_problems + self.recording_problems


def inbound(truth: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The scenario's own calls (not the callbacks hotline placed)."""
    return [r for r in truth if r.get("direction") == "inbound"]


def originates_per_task(engine: Engine, truth: Iterable[dict[str, Any]]) -> Counter[int]:
    """How many calls the PBX really placed for each outbound task (truth log's Originates,
    by HOTLINE_ATTEMPT_ID, mapped to tasks through the stored attempts)."""
    with Session(engine) as s:
        task_of = dict(s.execute(select(OutboundAttempt.id, OutboundAttempt.task_id)).all())
    out: Counter[int] = Counter()
    for r in truth:
        attempt = (r.get("originate") or {}).get("attempt_id")
        if attempt:
            out[task_of.get(int(attempt), -int(attempt))] += 1
    return out


def judge(engine: Engine, run: BusyHour, *, outages: Sequence[Outage] = ()) -> Verdict:
    outages = list(outages) or run.outages
    calls = inbound(run.truth)
    placed = {str(r["linkedid"]) for r in run.truth if r.get("direction") != "inbound"}
    # The scenario's calls against the truth log; the callbacks hotline placed are judged by
    # _outbound and _callbacks (compare_db_with_truth reads inbound calls).
    truth_problems = [p for p in compare_db_with_truth(engine, calls, outages=outages)
                      if not any(p.startswith(f"call {lid} (") for lid in placed)]
    truth_problems += _outbound(engine, run)
    verdict = Verdict(truth_problems, _callbacks(engine, run) + _callback_requests(engine, run),
                      _recordings(engine, run))
    verdict.calls = len(calls)
    verdict.lost = sum(1 for p in truth_problems if "is not stored" in p)
    verdict.duplicated = sum(1 for p in truth_problems if p.endswith(" times"))
    verdict.callbacks_dialled_twice = len(dialled_twice(engine, run.truth))
    verdict.dropped = sum(1 for r in calls if dropped_call(r))
    verdict.flagged = sum(1 for r in calls if r.get("flags"))
    verdict.callback_requests = sum(
        1 for r in calls
        if r.get("variables", {}).get("HOTLINE_DISPOSITION") == "callback_requested")
    if run.closed_at is not None:
        verdict.after_hours = sum(1 for r in calls
                                  if dt.datetime.fromisoformat(r["arrived_at"]) >= run.closed_at)
    return verdict


def _outbound(engine: Engine, run: BusyHour) -> list[str]:
    """Every call hotline placed (an Originate carrying its attempt id) is stored once, as
    outbound, for that attempt."""
    out: list[str] = []
    with Session(engine) as s:
        stored = Counter(s.scalars(select(Call.linkedid).where(Call.attempt_id.is_not(None))))
        attempt_of = dict(s.execute(select(Call.linkedid, Call.attempt_id)).all())
    for r in run.truth:
        attempt = (r.get("originate") or {}).get("attempt_id")
        if not attempt:
            continue
        lid = str(r["linkedid"])
        if stored[lid] != 1:
            out.append(f"callback call {lid} (attempt {attempt}) stored {stored[lid]} times")
        elif attempt_of.get(lid) != int(attempt):
            out.append(f"callback call {lid} stored for attempt {attempt_of.get(lid)}, not {attempt}")
    return out


def dialled_twice(engine: Engine, truth: Iterable[dict[str, Any]]) -> list[str]:
    """Callbacks the PBX really dialled twice: one attempt originated more than once, or a
    task whose customer answered one call and was called again."""
    out: list[str] = []
    per_attempt = Counter(int(r["originate"]["attempt_id"]) for r in truth
                          if (r.get("originate") or {}).get("attempt_id"))
    out += [f"attempt {a} was originated {n} times" for a, n in per_attempt.items() if n > 1]
    with Session(engine) as s:
        task_of = dict(s.execute(select(OutboundAttempt.id, OutboundAttempt.task_id)).all())
    reached: dict[int, list[str]] = {}
    for r in truth:
        attempt = (r.get("originate") or {}).get("attempt_id")
        if attempt and any(o.get("outcome") == "answered" and not o.get("extension")
                           for o in r.get("offers", [])):
            reached.setdefault(task_of.get(int(attempt), -1), []).append(str(r["linkedid"]))
    for task, lids in reached.items():
        if len(lids) > 1:
            out.append(f"task {task}'s customer answered {len(lids)} callbacks ({', '.join(lids)})")
    return out


def _callbacks(engine: Engine, run: BusyHour) -> list[str]:
    """Each dropped call's callback: while open, dialled (an attempt that reached the
    customer's number or settled with an outcome); after closing, waiting for the next
    opening. Every task's customer rang at most once per attempt."""
    out: list[str] = []
    dialled = originates_per_task(engine, run.truth)
    with Session(engine) as s:
        tasks = {t.dedupe_key: t for t in s.scalars(
            select(OutboundTask).where(OutboundTask.type == TaskType.DROPPED_CALL))}
        attempts: dict[int, list[OutboundAttempt]] = {}
        for a in s.scalars(select(OutboundAttempt).order_by(OutboundAttempt.id)):
            attempts.setdefault(a.task_id, []).append(a)
    for rec in inbound(run.truth):
        if not dropped_call(rec):
            continue
        lid = rec["linkedid"]
        task = tasks.get(f"dropped-call:pbx1:{lid}")
        if task is None:
            continue  # compare_db_with_truth reports it
        ended = dt.datetime.fromisoformat(rec["ended_at"])
        if run.closed_at is not None and ended >= run.closed_at:
            if attempts.get(task.id):
                out.append(f"call {lid} dropped after closing time and was called back at once")
            continue
        if run.closed_at is not None and (ended >= run.closed_at - CLOSING_MARGIN
                                          or task.due_at >= run.closed_at - CLOSING_MARGIN):
            # dropped in the last seconds before closing: seen, or reaching the dialler, only
            # after it; called back at once or at the next opening are both right
            continue
        mine = attempts.get(task.id, [])
        settled = [a for a in mine if a.state is AttemptState.SETTLED and a.outcome is not None]
        reached = [a for a in settled if not a.agent_failed]
        if not reached:
            out.append(f"call {lid} dropped and its callback was never dialled "
                       f"(task {task.status}, {len(mine)} attempt(s), "
                       f"{len(settled)} settled, {dialled.get(task.id, 0)} at the PBX)")
        if len(settled) != len(mine):
            out.append(f"call {lid}'s callback has an attempt never settled")
    return out


def _callback_requests(engine: Engine, run: BusyHour) -> list[str]:
    """Every caller who asked to be called back (the IVR said so: HOTLINE_DISPOSITION) has
    the task that will do it."""
    with Session(engine) as s:
        keys = set(s.scalars(select(OutboundTask.dedupe_key)
                             .where(OutboundTask.type == TaskType.REQUESTED)))
    return [f"call {r['linkedid']} asked to be called back and has no task"
            for r in inbound(run.truth)
            if r.get("variables", {}).get("HOTLINE_DISPOSITION") == "callback_requested"
            and requested_dedupe_key("pbx1", str(r["linkedid"])) not in keys]


def _recordings(engine: Engine, run: BusyHour) -> list[str]:
    """Flagged calls kept (row, file, SHA-256), nothing else left in the store or spool."""
    rec_settings = run.settings.recordings
    store, spool = Path(rec_settings.store_dir), Path(rec_settings.spool_dir)
    out: list[str] = []
    with Session(engine) as s:
        rows = s.execute(select(Recording, Call.linkedid).join(Call, Recording.call_id == Call.id)).all()
    by_call: dict[str, list[Recording]] = {}
    for rec, linkedid in rows:
        by_call.setdefault(linkedid, []).append(rec)
    flagged = {r["linkedid"] for r in inbound(run.truth) if r.get("flags")}
    for lid in sorted(flagged):
        kept = by_call.get(lid, [])
        if not kept:
            out.append(f"flagged call {lid} has no recording")
        for rec in kept:
            path = store / rec.storage_key
            if not path.is_file():
                out.append(f"flagged call {lid}: recording {rec.id} has no file {rec.storage_key}")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != rec.sha256:
                out.append(f"flagged call {lid}: recording {rec.id}'s file does not match its SHA-256")
    for lid in sorted(set(by_call) - flagged):
        out.append(f"call {lid} was not flagged but has {len(by_call[lid])} recording(s)")
    keys = {rec.storage_key for recs in by_call.values() for rec, in [(r,) for r in recs]}
    if store.is_dir():
        for path in sorted(p for p in store.rglob("*") if p.is_file()):
            if path.relative_to(store).as_posix() not in keys:
                out.append(f"store holds {path.relative_to(store)}, no recording row has it")
    if spool.is_dir():
        left = sorted(p.name for p in spool.iterdir() if p.is_file())
        if left:
            out.append(f"{len(left)} file(s) left in the spool, e.g. {left[:3]}")
    return out
