"""``hotline serve`` follows the calls of ``hotline simulate``: two processes, as deployed.

Nothing here is in-process: hotline runs from the command line on SQLite with its settings from
``HOTLINE_*`` variables (ring cadence compressed to match the simulator's speed), the simulator
runs a small scenario and writes its truth log, and the calls hotline stored are judged by it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml
from sqlalchemy import Engine

from hotline.db import migrate
from hotline.db.models import Agent
from hotline.db.session import make_engine, session_factory, transaction
from tests.e2e.stack import REPO, add_agents, free_port
from tests.e2e.truth import assert_db_matches_truth, load_truth

SPEED = 20.0
HOTLINE = Path(sys.executable).with_name("hotline")

SCENARIO = {
    "name": "serve-e2e",
    "seed": 11,
    "calls": 8,
    "arrival": {"interval": 3.0, "start_after": 12.0},  # simulated seconds: 0.6 s to connect
    "mix": [
        {"name": "talks", "weight": 3, "digits": ["1"], "talk_time": [5, 20], "patience": 200},
        {"name": "gives-up", "weight": 1, "digits": ["2"], "patience": [30, 45]},
    ],
    "agents": [
        {"extension": "1001", "answer_on_ring": 3},
        {"extension": "1002", "answer_on_ring": [2, 4]},
        {"extension": "1003", "mode": "never"},
    ],
}


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"hotline serve exited ({proc.returncode}):\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"hotline serve did not open port {port} in {timeout}s:\n{log.read_text()}")


def test_hotline_serve_stores_the_calls_of_hotline_simulate(tmp_path: Path, sounds: Path) -> None:
    db = tmp_path / "hotline.db"
    engine: Engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    ids = add_agents(engine, ["1001", "1002", "1003"])
    with transaction(session_factory(engine)) as s:
        for agent in s.query(Agent).filter(Agent.id.in_(ids.values())):
            agent.state = "ready"  # as the desks left them: ready for calls
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(SCENARIO), encoding="utf-8")
    ami_port, agi_port, web_port = free_port(), free_port(), free_port()
    common = {
        **os.environ,
        "HOTLINE_DATABASE__URL": f"sqlite:///{db}",
        "HOTLINE_AMI__PORT": str(ami_port),
        "HOTLINE_AMI__SECRET": "e2e-secret",
        "HOTLINE_AGI__PORT": str(agi_port),
        "HOTLINE_LOG_LEVEL": "INFO",
    }
    hotline_env = {
        **common,
        "HOTLINE_WEB__PORT": str(web_port),
        "HOTLINE_RING__ON_SECONDS": str(1.0 / SPEED),
        "HOTLINE_RING__OFF_SECONDS": str(4.0 / SPEED),
        "HOTLINE_AGENTS__WRAP_UP_SECONDS": str(5.0 / SPEED),
        "HOTLINE_AMI__RECONNECT_MIN": "0.05",
        "HOTLINE_AMI__RECONNECT_MAX": "0.2",
        "HOTLINE_HOURS__OPEN": "00:00",
        "HOTLINE_HOURS__CLOSE": "23:59",
        "HOTLINE_HOURS__REST_START": "",
        "HOTLINE_HOURS__REST_END": "",
        "HOTLINE_HOURS__CALENDAR": "none",
        "HOTLINE_IVR__FLOWS_DIR": str(REPO / "callflows"),
        "HOTLINE_IVR__PROMPTS_FILE": str(REPO / "callflows" / "prompts.yaml"),
        "HOTLINE_IVR__OVERRIDES_DIR": str(tmp_path / "recorded"),
        "HOTLINE_IVR__SOUNDS_DIR": str(sounds),
        "HOTLINE_RECORDINGS__SPOOL_DIR": str(tmp_path / "spool"),
        "HOTLINE_RECORDINGS__STORE_DIR": str(tmp_path / "store"),
        "HOTLINE_RECORDINGS__CACHE_DIR": str(tmp_path / "cache"),
    }
    truth_file = tmp_path / "truth.jsonl"
    serve_log = tmp_path / "serve.log"
    with serve_log.open("wb") as out:
        serve = subprocess.Popen([str(HOTLINE), "serve"], cwd=tmp_path, env=hotline_env,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(agi_port, serve, serve_log, timeout=60)  # FastAGI opens last
        simulate = subprocess.run(
            [str(HOTLINE), "simulate", "--scenario", str(tmp_path / "scenario.yaml"),
             "--speed", str(SPEED), "--client-time", "real", "--truth", str(truth_file),
             "--record-dir", str(tmp_path / "spool"), "--json"],
            cwd=tmp_path, env=common, capture_output=True, text=True, timeout=120,
        )
        assert simulate.returncode == 0, simulate.stderr
        time.sleep(0.5)  # the last Hangup events reach the bridge
    finally:
        serve.send_signal(signal.SIGTERM)  # a graceful stop writes everything learnt
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()
            raise
    log = serve_log.read_text()
    assert serve.returncode == 0, log
    assert "AMI connected" in log and "Traceback" not in log, log

    truth = load_truth(truth_file)
    assert len(truth) == SCENARIO["calls"]
    assert sum(1 for r in truth if r["answered_by"]) >= 4
    assert any(o["outcome"] == "noanswer" for r in truth for o in r["offers"])  # ring-5 taken away
    try:
        assert_db_matches_truth(engine, truth, keep=tmp_path)
    finally:
        engine.dispose()
