"""Database writes that come in bursts, done in batches: one transaction, one worker thread.

When a hundred agents flag at the same moment, a transaction and a worker thread per flag
make the flags queue for SQLite's single writer, one commit after another, while those
threads fight the event loop for the GIL, delaying the warnings the flags are meant to
play. Here writes asked for while a batch is being committed wait for the next batch, so
there is never more than one transaction (and one thread) at work, and a burst costs a few
commits instead of a hundred.

Each item still gets its own answer: if the batch's transaction fails, its items are written
again one per transaction, so one bad item (a refused blacklist entry) fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from hotline.db.session import transaction

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class BatchWriter(Generic[Item, Result]):
    def __init__(
        self,
        sessions: sessionmaker[Session],
        write_one: Callable[[Session, Item], Result],
        *,
        max_batch: int = 500,
    ) -> None:
        self.sessions = sessions
        self.write_one = write_one
        self.max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed or tried, for tests and figures

    async def write(self, item: Item) -> Result:
        """Write ``item`` with the next batch; its result, or the exception it raised."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain(),
                                                                  name="batch writer")
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                results = await asyncio.to_thread(self._write_batch, [item for item, _ in batch])
            except BaseException as exc:  # cancelled, or the thread itself failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception)
                                             else RuntimeError("the write was cancelled"))
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _write_batch(self, items: list[Item]) -> list[Result | BaseException]:
        self.batches += 1
        try:
            with transaction(self.sessions) as session:
                return [self.write_one(session, item) for item in items]
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            log.info("a batch of %d writes failed (%s); writing them one by one", len(items),
                     exc)
        results: list[Result | BaseException] = []
        for item in items:
            self.batches += 1
            try:
                with transaction(self.sessions) as session:
                    results.append(self.write_one(session, item))
            except Exception as exc:
                results.append(exc)
        return results
