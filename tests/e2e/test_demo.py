"""``hotline demo`` as a user runs it: one command, the wallboard live within a minute, Ctrl-C
stops it cleanly and leaves no call open in the database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from tests.e2e.stack import REPO, free_port

HOTLINE = Path(sys.executable).with_name("hotline")


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def _log_in(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    web = _opener()
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(f"{base}/api/auth/login", data=body,
                                     headers={"Content-Type": "application/json"})
    with web.open(request, timeout=10) as reply:
        assert reply.status == 200
    return web


def _wait_for_line(proc: subprocess.Popen[str], prefix: str, seen: list[str], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"hotline demo exited ({proc.poll()}):\n" + "".join(seen[-40:]))
        seen.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} within {timeout:g} s:\n" + "".join(seen[-40:]))


def test_hotline_demo_shows_live_traffic_and_stops_cleanly(tmp_path: Path) -> None:
    web_port = free_port()
    env = {
        **os.environ,
        "HOTLINE_WEB__PORT": str(web_port),
        "HOTLINE_AMI__PORT": str(free_port()),
        "HOTLINE_AGI__PORT": str(free_port()),
        "HOTLINE_IVR__FLOWS_DIR": str(REPO / "callflows"),
        "HOTLINE_IVR__PROMPTS_FILE": str(REPO / "callflows" / "prompts.yaml"),
        "HOTLINE_IVR__OVERRIDES_DIR": str(REPO / "callflows" / "recorded"),
        "HOTLINE_LOG_LEVEL": "WARNING",
    }
    env.pop("HOTLINE_DATABASE__URL", None)  # the embedded default: SQLite under ./var
    seen: list[str] = []
    proc = subprocess.Popen([str(HOTLINE), "demo", "--speed", "10"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = time.monotonic()
        banner = _wait_for_line(proc, "hotline demo on ", seen, timeout=120)
        base = banner.split()[3].rstrip("/")
        assert base == f"http://127.0.0.1:{web_port}"
        logins = "".join(seen) + "".join(proc.stdout.readline() for _ in range(2))  # type: ignore[union-attr]
        assert "supervisor login: supervisor / hotline-demo" in logins
        assert "agent      login: agent / hotline-demo" in logins

        supervisor = _log_in(base, "supervisor", "hotline-demo")
        board: dict[str, Any] = {}
        live_within = None
        while time.monotonic() - started < 60 + 120:  # a minute of demo after start-up
            with supervisor.open(f"{base}/api/wallboard", timeout=10) as reply:
                board = json.load(reply)
            busy = board["agents_by_state"].get("talking", 0) + board["agents_by_state"].get("ringing", 0)
            if board["today"]["offered"] >= 5 and board["today"]["answered"] >= 1 and busy >= 1:
                live_within = time.monotonic()
                break
            time.sleep(1)
        assert live_within is not None, f"the wallboard shows no traffic: {board}"
        # the demo agent sits at softphone 1001 and can use the desk
        agent = _log_in(base, "agent", "hotline-demo")
        with agent.open(f"{base}/api/auth/me", timeout=10) as reply:
            assert json.load(reply)["role"] == "agent"
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
        seen.append(rest or "")
    output = "".join(seen)
    assert proc.returncode == 0, output[-4000:]
    assert "demo stopped after" in output
    assert "Traceback" not in output, output[-4000:]

    db = sqlite3.connect(tmp_path / "var" / "hotline.db")
    try:
        calls, still_open = db.execute(
            "SELECT count(*), sum(ended_at IS NULL) FROM calls").fetchone()
        sounds = list((tmp_path / "var" / "sounds").rglob("*.wav"))
    finally:
        db.close()
    assert calls >= 5
    assert still_open == 0, "Ctrl-C left calls open in the database"
    assert sounds, "the demo did not build the prompts"
