"""Report figures against what really happened: a mixed set of calls goes through pbxsim and
the whole of hotline (IVR, bridge, router, ring-5 deadline); the expected numbers are computed
from pbxsim's truth log alone (tests/e2e/truth_figures.py) and compared, one by one, with what
the reports API answers: offered, answered, abandoned, missed, average speed of answer,
average handle time, service level, the ring-at-answer distribution, calls by category, and
per agent offered, answered, ring-no-answer, abandoned while ringing and answers in the window.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from hotline.accounts.tokens import issue_token
from hotline.app import create_web_app
from hotline.db.session import session_factory, transaction
from pbxsim import AgentBehaviour, CallerBehaviour, CallerSpec
from tests.e2e.stack import HOTLINE_NUMBER, SPEED, running_stack
from tests.e2e.truth_figures import TruthFigures, figures
from tests.factories import make_user

# Seconds: the API rounds averages to 0.1 s, and hotline dates an event when the AMI brings it,
# a few milliseconds after pbxsim's wall clock.
TIME_TOLERANCE = 0.12

AGENTS = {
    "1001": AgentBehaviour(answer_on_ring=2, talk_time=3),
    "1002": AgentBehaviour(answer_on_ring=4, talk_time=4),
    "1003": AgentBehaviour(mode="never"),  # rings to the ring-5 deadline every time
}
# (delay before placing it in simulated seconds, caller) -- answered calls in several
# categories, callers who give up at different stages, a callback request.
CALLS: list[tuple[float, CallerBehaviour]] = [
    (0, CallerBehaviour(digits=["1"], patience=200)),
    (2, CallerBehaviour(digits=["2"], patience=200)),
    (4, CallerBehaviour(digits=["3"], patience=200)),
    (6, CallerBehaviour(digits=["1"], patience=6)),      # gives up while it still rings
    (8, CallerBehaviour(digits=["2"], patience=24)),     # gives up waiting for an agent
    (10, CallerBehaviour(digits=["4"])),                 # asks to be called back: IVR only
    (12, CallerBehaviour(digits=["1"], patience=200)),
]
# After a call an agent is in wrap-up until they press Ready or this runs out (30 s by default);
# short here, so the few agents of the test take the next waiting call soon.
WRAP_UP_SECONDS = 1.0


async def run_calls(stack: Any) -> list[dict[str, Any]]:
    async def one(i: int, delay: float, behaviour: CallerBehaviour) -> dict[str, Any]:
        await asyncio.sleep(delay / SPEED)
        call = await stack.sim.place_call(CallerSpec(number=f"1380013{8000 + i:04d}",
                                                     dnid=HOTLINE_NUMBER, behaviour=behaviour))
        return await asyncio.wait_for(call.ended, 60)

    return list(await asyncio.gather(*(one(i, d, b) for i, (d, b) in enumerate(CALLS))))


def _close(actual: float | None, expected: float | None) -> bool:
    if actual is None or expected is None:
        return actual is expected
    return abs(actual - expected) <= TIME_TOLERANCE


def compare_calls(api: dict[str, Any], truth: TruthFigures) -> list[str]:
    s = api["summary"]
    wrong = []
    for key in ("offered", "answered", "abandoned", "missed", "ring_answered"):
        if s[key] != getattr(truth, key):
            wrong.append(f"{key}: API {s[key]}, truth {getattr(truth, key)}")
    for key in ("asa_seconds", "aht_seconds"):
        if not _close(s[key], getattr(truth, key)):
            wrong.append(f"{key}: API {s[key]}, truth {getattr(truth, key)}")
    expected_sl = None if truth.service_level is None else round(truth.service_level, 4)
    if s["service_level"] != expected_sl:
        wrong.append(f"service_level: API {s['service_level']}, truth {expected_sl}")
    return wrong


async def test_report_figures_match_the_truth_log(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path
) -> None:
    sessions = session_factory(engine)
    async with running_stack(tmp_path, engine, db_url, sounds, AGENTS) as stack:
        bridge = stack.runtime.bridge
        bridge.options = dataclasses.replace(bridge.options, wrap_up_seconds=WRAP_UP_SECONDS)
        records = await run_calls(stack)
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        app = create_web_app(stack.settings, engine, stack.runtime)
    truth = figures(records)
    # The scenario did what it is meant to exercise (else the comparison proves little).
    assert truth.answered >= 4 and truth.abandoned >= 2, records
    assert truth.agents["1003"].ring_no_answer >= 1, records
    assert {None, "inquiry", "complaint", "repair"} <= set(truth.by_category), truth.by_category

    with transaction(sessions) as s:
        sup = make_user(s, "sup", "supervisor")
        token = issue_token(s, user_id=sup.id, name="report test", created_by_id=None).secret
    today = dt.datetime.now(stack.settings.tz).date()
    # Three days around today: a run near local midnight still has all its calls.
    period = {"start": str(today - dt.timedelta(days=1)), "end": str(today + dt.timedelta(days=1))}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hotline.test",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        calls = (await api.get("/api/reports/calls", params={**period, "group": "day"})).json()
        by_category = (await api.get("/api/reports/calls",
                                     params={**period, "group": "category"})).json()
        rings = (await api.get("/api/reports/rings", params=period)).json()
        agents = (await api.get("/api/reports/agents", params=period)).json()

    wrong = compare_calls(calls, truth)

    api_rings = {r["ring"]: r["calls"] for r in rings["rows"] if r["calls"]}
    if api_rings != dict(truth.ring_at_answer):
        wrong.append(f"ring at answer: API {api_rings}, truth {dict(truth.ring_at_answer)}")
    in_window = sum(n for ring, n in truth.ring_at_answer.items() if 3 <= ring <= 5)
    if rings["summary"]["in_window"] != in_window:
        wrong.append(f"rings in window: API {rings['summary']['in_window']}, truth {in_window}")

    api_categories = {r["bucket"]: r["offered"] for r in by_category["rows"]}
    expected_categories = {("(none)" if k is None else k): n
                           for k, n in truth.by_category.items()}
    if api_categories != expected_categories:
        wrong.append(f"by category: API {api_categories}, truth {expected_categories}")

    rows = {r["extension"]: r for r in agents["rows"]}
    for ext, t in truth.agents.items():
        row = rows[ext]
        for key, expected in (("offered", t.offered), ("answered", t.answered),
                              ("ring_no_answer", t.ring_no_answer),
                              ("abandoned_ringing", t.abandoned_ringing)):
            if row[key] != expected:
                wrong.append(f"agent {ext} {key}: API {row[key]}, truth {expected}")
        expected_share = None if t.in_window is None else round(t.in_window, 4)
        if row["agent_in_window"] != expected_share:
            wrong.append(f"agent {ext} answers in window: API {row['agent_in_window']}, "
                         f"truth {expected_share}")
    assert not wrong, "\n".join(wrong)
