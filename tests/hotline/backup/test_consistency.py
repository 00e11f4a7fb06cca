"""A backup taken while hotline writes holds one committed state: no torn transaction, and a
recordings index that agrees with the copied database."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select

from hotline.backup import make_backup, restore_backup
from hotline.db.models import Call, CallLeg, Customer, Recording
from hotline.db.session import make_engine, session_factory
from hotline.domain.enums import CallDirection, LegRole
from hotline.settings import Settings
from recordings.store import RecordingStore
from tests.hotline.backup.data import add_recording

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


class Writer(threading.Thread):
    """Like the bridge's writer: each transaction stores a call with both legs, bumps the
    call counter kept on a customer row, and every third call keeps a recording (file first,
    row in the same transaction)."""

    def __init__(self, engine: Engine, store: RecordingStore) -> None:
        super().__init__(daemon=True)
        self.sessions = session_factory(engine)
        self.store = store
        self.committed = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.sessions() as s, s.begin():
                s.add(Customer(phone="+8613800000001", name="counter", notes="0"))
            while not self.stop.is_set():
                n = self.committed + 1
                with self.sessions() as s, s.begin():
                    at = T0 + dt.timedelta(seconds=n)
                    call = Call(pbx="pbx1", linkedid=f"1763863200.{n}", uniqueid=f"1763863200.{n}",
                                direction=CallDirection.INBOUND, arrived_at=at, ended_at=at,
                                legs=[CallLeg(pbx="pbx1", uniqueid=f"a.{n}", channel="PJSIP/c",
                                              role=LegRole.CALLER, created_at=at),
                                      CallLeg(pbx="pbx1", uniqueid=f"b.{n}", channel="PJSIP/1001",
                                              role=LegRole.AGENT, created_at=at)])
                    s.add(call)
                    s.flush()
                    if n % 3 == 0:
                        add_recording(s, self.store, call)
                    counter = s.scalars(select(Customer).where(Customer.name == "counter")).one()
                    counter.notes = str(n)
                self.committed = n
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_backup_while_another_thread_writes_is_consistent(
    engine: Engine, target_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(str(engine.url.render_as_string(hide_password=False)))
    store = RecordingStore(settings.recordings.store_dir)
    writer = Writer(engine, store)
    writer.start()
    try:
        while writer.committed < 20 and writer.error is None:
            threading.Event().wait(0.01)
        # A small database backs up in milliseconds: on a busy machine the writer may not
        # get a commit in during one run, so back up until one run overlapped a commit.
        for _attempt in range(20):
            before = writer.committed
            made = make_backup(settings, engine, with_audio=True, prune=False)
            if writer.committed > before:
                break
        during = writer.committed - before
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None, writer.error
    assert during > 0, "the writer must have committed while a backup ran"

    # restore_backup itself compares the restored recordings with the backup's index.
    restore_backup(make_settings(target_url, store="restored-store"), made.path)
    restored = make_engine(target_url)
    try:
        with session_factory(restored)() as s:
            calls = s.scalar(select(func.count()).select_from(Call))
            counter = s.scalar(select(Customer.notes).where(Customer.name == "counter"))
            legs_per_call = set(s.scalars(
                select(func.count(CallLeg.id)).group_by(CallLeg.call_id)))
            recordings = s.scalar(select(func.count()).select_from(Recording))
    finally:
        restored.dispose()
    assert calls is not None and calls >= before
    assert counter == str(calls), "the counter and the calls come from different moments"
    assert legs_per_call == {2}, "a call was copied without both of its legs"
    assert recordings == calls // 3
    assert made.manifest.table_rows["calls"] == calls
    assert made.manifest.recordings_rows == recordings


def test_a_store_file_removed_while_the_backup_runs_does_not_fail_it(
    sqlite_engine: Engine, make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A purge (or a staging file moved on) between the store's listing and the hashing of
    a file must not cost the night's backup: the vanished file is just not listed."""
    settings = make_settings(str(sqlite_engine.url))
    store_dir = settings.recordings.store_dir
    store_dir.mkdir(parents=True)
    (store_dir / "stray.wav").write_bytes(b"RIFF....")
    listed = RecordingStore.keys

    def list_then_lose(self: RecordingStore) -> list[str]:
        keys = listed(self)
        (self.root / "stray.wav").unlink(missing_ok=True)
        return keys

    monkeypatch.setattr(RecordingStore, "keys", list_then_lose)
    made = make_backup(settings, sqlite_engine, with_audio=True, prune=False)
    assert made.path.is_dir()
    listing = (made.path / "store-files.jsonl").read_text()
    assert "stray.wav" not in listing
