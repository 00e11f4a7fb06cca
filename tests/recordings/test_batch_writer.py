"""Flags that come in a burst are written a batch at a time: few transactions, each item
answered on its own, one bad item failing alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.db.models import AuditLog
from hotline.domain.errors import InvalidInput
from recordings.batch_writer import BatchWriter


def note(session: Session, text: str) -> int:
    if text == "bad":
        raise InvalidInput.single("text", "refused")
    row = AuditLog(action="test.note", object_id=text)
    session.add(row)
    session.flush()
    return row.id


def notes(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return sorted(s.scalars(select(AuditLog.object_id).where(AuditLog.action == "test.note")))


async def test_a_burst_of_writes_takes_a_few_transactions(sessions) -> None:
    writer: BatchWriter[str, int] = BatchWriter(sessions, note)
    texts = [f"n{i:03d}" for i in range(100)]
    ids = await asyncio.gather(*(writer.write(t) for t in texts))
    assert len(set(ids)) == 100
    assert notes(sessions) == texts
    # the first write goes alone; the 99 asked for meanwhile share the next transaction
    assert writer.batches <= 3


async def test_one_refused_item_fails_alone(sessions) -> None:
    writer: BatchWriter[str, int] = BatchWriter(sessions, note)
    results = await asyncio.gather(*(writer.write(t) for t in ["a", "b", "bad", "c"]),
                                   return_exceptions=True)
    assert isinstance(results[2], InvalidInput)
    assert all(isinstance(r, int) for r in results[:2] + results[3:])
    assert notes(sessions) == ["a", "b", "c"]
    with pytest.raises(InvalidInput):
        await writer.write("bad")
