"""``hotline tasks`` as a supervisor runs it: rules once, lists, plans, campaigns refusing to
close below 100%, leave records, bad input named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hotline.db import migrate
from hotline.db.models import Customer
from hotline.db.session import make_engine, session_factory, transaction
from tests.factories import make_user

HOTLINE = Path(sys.executable).with_name("hotline")


def run(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_DATABASE__URL"] = url
    return subprocess.run([str(HOTLINE), "tasks", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_tasks_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with transaction(session_factory(engine)) as s:
        make_user(s, "wang", "agent", extension="1001")
        s.add(Customer(phone="+8613912345678", name="李女士", is_member=True))
    engine.dispose()

    out = run(["run-rules", "--at", "2026-11-23T10:00"], url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "first-contact: 1 task(s) created" in out.stdout  # the new customer was assigned
    again = run(["run-rules", "--rule", "first-contact", "--at", "2026-11-23T10:00"], url, tmp_path)
    assert "first-contact: 0 task(s) created" in again.stdout

    listed = run(["list", "--agent", "1001", "--today", "--at", "2026-11-23T10:05"], url, tmp_path)
    assert "first-contact" in listed.stdout and "1 task(s)" in listed.stdout

    plan = run(["plan", "--at", "2026-11-23T12:30"], url, tmp_path)
    assert "window working_hours: 2026-11-23 14:00 - 2026-11-23 20:00" in plan.stdout

    opened = run(["campaign", "open", "Q4 会员回访", "--start", "2026-11-23T09:00"], url, tmp_path)
    assert "opened campaign #1" in opened.stdout
    cov = run(["campaign", "coverage", "1"], url, tmp_path)
    assert "0 of 1 members visited (0.0%)" in cov.stdout and "李女士" in cov.stdout
    closed = run(["campaign", "close", "1"], url, tmp_path)
    assert closed.returncode == 1 and "not yet visited: #1" in closed.stderr

    bad = run(["leave", "1001", "--from", "2026-11-25T08:00", "--to", "2026-11-24"], url, tmp_path)
    assert bad.returncode != 0 and "ends_at: must be after starts_at" in bad.stderr
    ok = run(["leave", "1001", "--from", "2026-11-25T08:00", "--to", "2026-11-27T08:00"], url, tmp_path)
    assert "leave #1 recorded for agent 1001: 2026-11-25 08:00 - 2026-11-27 08:00" in ok.stdout
    unknown = run(["run-rules", "--rule", "nope"], url, tmp_path)
    assert unknown.returncode != 0 and "unknown rule 'nope'" in unknown.stderr
    status = run(["status"], url, tmp_path)
    assert "no scheduler has led yet" in status.stdout and "pending" in status.stdout
