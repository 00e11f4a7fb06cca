"""Issue 9's busy hour, end to end (tests/e2e/busy_hour.py).

What it runs by default: the first 500 calls of ``pbxsim/scenarios/busy-hour.yaml`` (its
arrival rate kept: 33 a minute, so about 15 simulated minutes of the busy hour) into the
whole of hotline -- AMI bridge, FastAGI IVR, recordings, scheduler -- on SQLite, with the
scenario's 30 agents (early, late, never-answering, busy and unregistered phones among them),
abusive (*71) and extortion (*72) callers, line drops, callback requests, silent callers and
callers who give up, time compressed 20-fold. The hotline's clock is set to a working day
shortly before 18:00 and its hours close part-way, so the last calls arrive after hours.
About 60 s on the project's 2-core machine (measured: see RELIABILITY.md).

``HOTLINE_BUSY_HOUR_CALLS=2000`` runs the whole busy hour (about 4 minutes at this speed);
``HOTLINE_BUSY_HOUR_SPEED`` changes the compression.

Afterwards: the database agrees with pbxsim's truth log on every call; every call that
dropped while the hotline was open was called back (its dropped-call task dialled, the
outcome stored, never dialled twice), and one that dropped after closing waits for the
next opening; every flagged call's recording is kept, its file in the store with a matching
SHA-256; no unflagged recording is left in the store or the spool.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.e2e.busy_hour import inbound, judge, run_busy_hour

CALLS = int(os.environ.get("HOTLINE_BUSY_HOUR_CALLS", "500"))
SPEED = float(os.environ.get("HOTLINE_BUSY_HOUR_SPEED", "20"))
ARRIVALS = CALLS / 33 * 60 / SPEED  # real seconds over which the calls arrive


@pytest.mark.timeout(max(300, int(3 * ARRIVALS) + 120))

async def test_a_busy_hour_is_stored_called_back_and_recorded_as_it_happened(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path
) -> None:
    # the hours close when about 85% of the calls have arrived
    run = await run_busy_hour(tmp_path, sqlite_engine, str(sqlite_engine.url), sounds,
                              calls=CALLS, speed=SPEED, closes_after=0.85 * ARRIVALS)
    verdict = judge(sqlite_engine, run)
    (tmp_path / "verdict.json").write_text(json.dumps(verdict.__dict__, default=str, indent=1))
    assert not verdict.problems, (f"{len(verdict.problems)} problem(s) (run took "
                                  f"{run.wall_seconds:.0f} s):\n" + "\n".join(verdict.problems[:60]))

    # the run exercised what issue 9 lists
    calls = inbound(run.truth)
    assert len(calls) == CALLS
    labels = {r.get("label") for r in calls if r.get("flags")}
    assert {"abusive", "extortion"} <= labels
    assert verdict.dropped >= 3 and verdict.flagged >= 5 and verdict.after_hours >= 10
    assert sum(1 for r in calls if "4" in r.get("digits_sent", [])) >= 5
