"""A backup taken while hotline is taking calls: made by the same code the daily job runs,
restored into an empty database, it holds every call the bridge had stored, the flagged call's
recording row and its audio, and nothing torn."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hotline.backup import make_backup, restore_backup
from hotline.db.models import Call, CallLeg, Recording
from hotline.db.session import make_engine, session_factory
from pbxsim import AgentBehaviour, AgentFlag, CallerBehaviour, CallerSpec
from tests.e2e.stack import HOTLINE_NUMBER, running_stack


@pytest.fixture
def target_url(db_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    from tests.conftest import _pg_create, _pg_drop

    admin_url = request.getfixturevalue("pg_admin_url")
    name = f"hotline_e2e_r_{uuid.uuid4().hex[:10]}"
    url = _pg_create(admin_url, name)
    try:
        yield url
    finally:
        _pg_drop(admin_url, name)


def _calls(engine: Engine) -> dict[str, tuple[object, ...]]:
    with session_factory(engine)() as s:
        rows = s.execute(select(Call.linkedid, Call.arrived_at, Call.answered_by_agent_id,
                                Call.ended_at, Call.disposition)).all()
    return {r[0]: tuple(r[1:]) for r in rows}


async def test_backup_during_live_calls_restores_what_was_stored(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path, target_url: str
) -> None:
    agents = {"1001": AgentBehaviour(answer_on_ring=1), "1002": AgentBehaviour(answer_on_ring=1)}
    backups = tmp_path / "backups"
    async with running_stack(tmp_path, engine, db_url, sounds, agents,
                             backup={"dir": backups, "with_audio": True},
                             recordings={"sweep_seconds": 0.5, "settle_seconds": 0.2}) as stack:
        flagged = await stack.sim.place_call(CallerSpec(
            number="13800000071", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["1"], talk_time=4, label="abusive",
                                      agent_flags=[AgentFlag("*71", after=1)]),
        ))
        flagged_truth = await flagged.ended
        sessions = session_factory(engine)
        for _ in range(100):  # the flagged call's file is stored by the next sweep
            with sessions() as s:
                if s.scalar(select(Recording.id)) is not None:
                    break
            await asyncio.sleep(0.1)
        live = await stack.sim.place_call(CallerSpec(
            number="13800000072", dnid=HOTLINE_NUMBER,
            behaviour=CallerBehaviour(digits=["1"], talk_time=30),
        ))
        for _ in range(200):  # until the bridge has stored it as answered by an agent
            with sessions() as s:
                if s.scalar(select(Call.id).where(Call.caller_number == "+8613800000072",
                                                  Call.answered_by_agent_id.is_not(None))):
                    break
            await asyncio.sleep(0.05)
        made = await asyncio.to_thread(make_backup, stack.settings, engine)
        live.hang_up()
        live_truth = await live.ended
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        source_store = stack.settings.recordings.store_dir

    assert made.manifest.recordings_rows == 1 and made.manifest.with_audio
    target = stack.settings.model_copy(update={"database": stack.settings.database.model_copy(
        update={"url": target_url})})
    target = target.model_copy(update={"recordings": target.recordings.model_copy(
        update={"store_dir": tmp_path / "restored-store"})})
    result = restore_backup(target, made.path)
    assert result.files_restored == 1

    restored_engine = make_engine(target_url)
    try:
        restored, now = _calls(restored_engine), _calls(engine)
        with session_factory(restored_engine)() as s:
            legs = s.execute(select(CallLeg.call_id, CallLeg.role)).all()
            [rec] = s.scalars(select(Recording)).all()
    finally:
        restored_engine.dispose()
    # The finished, flagged call is there whole; the live one as the bridge had stored it.
    assert set(restored) == set(now) == {flagged_truth["linkedid"], live_truth["linkedid"]}
    assert restored[flagged_truth["linkedid"]] == now[flagged_truth["linkedid"]]
    arrived, agent, ended, _disposition = restored[live_truth["linkedid"]]
    assert arrived is not None and agent is not None
    assert ended is None, "the backup was taken while the second call was up"
    assert {role for _, role in legs} >= {"caller", "agent"}
    assert rec.call_id is not None
    kept = (source_store / rec.storage_key).read_bytes()
    assert (tmp_path / "restored-store" / rec.storage_key).read_bytes() == kept
