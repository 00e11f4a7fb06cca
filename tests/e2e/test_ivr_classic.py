"""The classic AGI entry point end to end: pbxsim runs ``AGI(hotline-agi,inbound)`` as Asterisk
would (a process per call, AGI on its stdin/stdout, SIGHUP on a hang-up), and the same default
flow answers at ring 3, greets first and stores the caller's callback request."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hotline.db.models import OutboundTask
from hotline.db.session import session_factory
from hotline.domain.enums import TaskType
from pbxsim import CallerBehaviour, CallerSpec, PbxSimulator, SimConfig
from tests.e2e.stack import HOTLINE_NUMBER, REPO, SPEED

DIALPLAN = """
[general]
[hotline-inbound]
exten => _X.,1,Set(__HOTLINE_CALL_ID=${UNIQUEID})
 same => n,AGI(hotline-agi,inbound)
 same => n,Hangup()
"""


def classic_env(tmp: Path, db_url: str, sounds: Path) -> dict[str, str]:
    """hotline's settings as the environment Asterisk hands its AGI processes."""
    return {
        "HOTLINE_DATABASE__URL": db_url,
        "HOTLINE_RING__ON_SECONDS": str(1.0 / SPEED),
        "HOTLINE_RING__OFF_SECONDS": str(4.0 / SPEED),
        "HOTLINE_HOURS__OPEN": "00:00", "HOTLINE_HOURS__CLOSE": "23:59",
        "HOTLINE_HOURS__REST_START": "", "HOTLINE_HOURS__REST_END": "",
        "HOTLINE_HOURS__CALENDAR": "none",
        "HOTLINE_IVR__FLOWS_DIR": str(REPO / "callflows"),
        "HOTLINE_IVR__PROMPTS_FILE": str(REPO / "callflows" / "prompts.yaml"),
        "HOTLINE_IVR__SOUNDS_DIR": str(sounds),
        "HOTLINE_RECORDINGS__SPOOL_DIR": str(tmp / "spool"),
    }


async def test_hotline_agi_process_per_call_under_pbxsim(
    tmp_path: Path, sqlite_engine: Engine, sounds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in classic_env(tmp_path, str(sqlite_engine.url), sounds).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no hotline.toml of the developer's
    sim = PbxSimulator(SimConfig(
        ami_port=0, speed=SPEED, client_time="real", dialplan_text=DIALPLAN,
        agi_dir=Path(sys.executable).parent, record_dir=tmp_path / "spool", sounds_dir=sounds,
    ))
    await sim.start()
    try:
        call = await sim.place_call(CallerSpec("13800000501", HOTLINE_NUMBER,
                                               CallerBehaviour(digits=["4"])))
        truth = await asyncio.wait_for(call.ended, 30)
    finally:
        await sim.stop()
    # the flow hung up the channel itself (AGI HANGUP), so AGISTATUS is HANGUP
    assert truth["agi"] == [{"url": "hotline-agi", "status": "HANGUP"}]
    assert truth["ended_by"] == "ivr"
    assert truth["answered_at_ring"] == 3
    assert [Path(p).name for p in truth["prompts"]] == ["greeting", "main_menu", "callback_confirm", "closing"]
    assert truth["variables"]["HOTLINE_DISPOSITION"] == "callback_requested"
    with session_factory(sqlite_engine)() as s:
        [task] = s.scalars(select(OutboundTask)).all()
    assert (task.type, task.phone) == (TaskType.REQUESTED, "+8613800000501")
