"""The commands as an operator runs them: hotline backup, backup list, backup verify and
hotline restore, in a shell, configured by the environment."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from hotline.db.models import Call
from hotline.db.session import make_engine, session_factory
from recordings.store import RecordingStore
from tests.hotline.backup.data import populate
from tests.hotline.test_cli import run


def test_backup_then_restore_from_the_command_line(tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copy(sqlite_template, tmp_path / "live.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'live.db'}")
    populate(session_factory(engine), RecordingStore(tmp_path / "store"), calls=5)
    engine.dispose()
    env = {
        "HOTLINE_DATABASE__URL": f"sqlite:///{tmp_path / 'live.db'}",
        "HOTLINE_RECORDINGS__STORE_DIR": str(tmp_path / "store"),
        "HOTLINE_BACKUP__DIR": str(tmp_path / "backups"),
    }
    made = run(["backup", "--with-audio"], env, tmp_path)
    assert made.returncode == 0, made.stderr
    assert "backup written: " + str(tmp_path / "backups" / "hotline-") in made.stdout
    assert "sqlite database" in made.stdout and "rows in" in made.stdout
    assert "recordings: 3 row(s), 2 store file(s) checksummed, audio copied (0 unchanged" in made.stdout
    assert "WARNING: backup.dir" in made.stderr and "same disk" in made.stderr

    listed = run(["backup", "list"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("hotline-") == 1 and "CST" in listed.stdout
    assert "3 recordings +audio" in listed.stdout

    checked = run(["backup", "verify", "latest"], env, tmp_path)
    assert checked.returncode == 0 and checked.stdout.startswith("OK: ")

    restore_env = {**env, "HOTLINE_DATABASE__URL": f"sqlite:///{tmp_path / 'new.db'}",
                   "HOTLINE_RECORDINGS__STORE_DIR": str(tmp_path / "new-store")}
    restored = run(["restore", "latest"], restore_env, tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "every checksum matches" in restored.stdout
    assert "calls" in restored.stdout and "2 restored from the backup" in restored.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Call)) == 5
    engine.dispose()

    again = run(["restore", "latest"], restore_env, tmp_path)
    assert again.returncode == 1
    assert "is not empty" in again.stderr and "--force" in again.stderr

    backup = next((tmp_path / "backups").glob("hotline-*"))
    db_copy = backup / "database.sqlite3"
    db_copy.write_bytes(db_copy.read_bytes()[:-10] + b"0123456789")
    bad = run(["backup", "verify", backup.name], env, tmp_path)
    assert bad.returncode == 1 and "database.sqlite3 is damaged" in bad.stderr
    refused = run(["restore", str(backup), "--force"], restore_env, tmp_path)
    assert refused.returncode == 1 and "database.sqlite3 is damaged" in refused.stderr


def test_backup_of_a_missing_database_says_so(tmp_path: Path) -> None:
    env = {"HOTLINE_DATABASE__URL": f"sqlite:///{tmp_path / 'typo.db'}",
           "HOTLINE_BACKUP__DIR": str(tmp_path / "backups")}
    result = run(["backup"], env, tmp_path)
    assert result.returncode == 1
    assert "holds no tables: nothing to back up" in result.stderr
    assert run(["backup", "list"], env, tmp_path).stdout.startswith("no backup in ")
