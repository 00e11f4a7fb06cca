"""``hotline-agi``, the classic AGI entry point through pyst2: a real process per call, spoken
to on stdin/stdout with Asterisk's reply lines, SIGHUP when the caller hangs up."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline.db.models import OutboundTask
from hotline.db.session import make_engine, session_factory
from hotline.domain.enums import TaskType
from hotline.domain.ring import RingPolicy
from tests.ivr.asterisk import ScriptedAsterisk, captured_env
from tests.ivr.conftest import CALLER_E164, REPO

AGI_BIN = Path(sys.executable).with_name("hotline-agi")
RING = RingPolicy(on_seconds=0.1, off_seconds=0.4)

FLOW = """\
name: classic
routes: [inbound]
start: ring
nodes:
  ring: {kind: answer, next: greet}
  greet: {kind: play, prompt: greeting, next: menu}
  menu:
    kind: menu
    prompt: main_menu
    timeout: 5
    retries: 2
    options: {"4": callback}
    on_invalid: bye
    on_no_input: silent
  callback: {kind: callback, next: bye, failed: bye}
  bye: {kind: hangup, prompt: closing}
  silent: {kind: hangup, prompt: silence, disposition: silent}
"""


class ClassicAsterisk(ScriptedAsterisk):
    """Asterisk running a classic AGI: a hang-up is SIGHUP to the process (AGISIGHUP=yes)."""

    proc: asyncio.subprocess.Process | None = None
    sighup: bool = True

    async def send_hangup_notice(self) -> None:
        if not self.sighup:
            await super().send_hangup_notice()
            return
        self.notice_at = self._now()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)


@pytest.fixture
def agi_env(tmp_path: Path, sqlite_template: Path) -> dict[str, str]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "classic.yaml").write_text(FLOW)
    shutil.copy(sqlite_template, tmp_path / "hotline.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "LANG": "C", "LC_ALL": "C",  # Asterisk may start AGI scripts under the C locale
        "HOTLINE_DATABASE__URL": f"sqlite:///{tmp_path / 'hotline.db'}",
        "HOTLINE_RING__ON_SECONDS": "0.1",
        "HOTLINE_RING__OFF_SECONDS": "0.4",
        "HOTLINE_IVR__FLOWS_DIR": str(flows),
        "HOTLINE_IVR__PROMPTS_FILE": str(REPO / "callflows" / "prompts.yaml"),
        "HOTLINE_IVR__SOUNDS_DIR": str(tmp_path / "sounds"),
        "HOTLINE_IVR__HANGUP_GRACE": "0.15",
        "HOTLINE_RECORDINGS__SPOOL_DIR": str(tmp_path / "spool"),
    })
    return env


def classic_env_block(callerid: str = "13812345678") -> bytes:
    """What Asterisk gives a classic AGI: no agi_network, agi_request is the script, args."""
    values = {k: v for k, v in captured_env() if k not in ("agi_network", "agi_network_script")}
    values.update({"agi_request": "hotline-agi", "agi_callerid": callerid, "agi_calleridname": "王芳",
                   "agi_arg_1": "inbound"})
    return "".join(f"{k}: {v}\n" for k, v in values.items()).encode() + b"\n"


async def run_classic(env: dict[str, str], call: ClassicAsterisk, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(AGI_BIN), *args, env=env, cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    call.proc = proc
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(classic_env_block(call.callerid))
    await call.serve(proc.stdout, proc.stdin, timeout=20)
    stderr = await proc.stderr.read()
    code = await asyncio.wait_for(proc.wait(), 5)
    return code, stderr.decode()


async def test_classic_agi_runs_the_flow_at_ring_3_and_handles_silence(agi_env: dict[str, str]) -> None:
    call = ClassicAsterisk(0, digits=[None, None, None])
    code, stderr = await run_classic(agi_env, call, "inbound")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert call.verbs()[:2] == ["EXEC Ringing", "ANSWER"]
    waited = call.first("ANSWER").t - call.reply_time("EXEC Ringing")
    assert RING.ring_at(waited) == 3
    assert call.played() == ["greeting", "main_menu", "main_menu", "main_menu", "silence"]
    assert call.variables["HOTLINE_DISPOSITION"] == "silent"
    assert call.lines()[-1] == "HANGUP"


async def test_classic_agi_books_a_callback_in_the_database(agi_env: dict[str, str]) -> None:
    before = dt.datetime.now(dt.UTC)
    call = ClassicAsterisk(0, digits=["4"])
    code, stderr = await run_classic(agi_env, call)  # no argument: route "inbound"
    assert code == 0, stderr
    assert call.played() == ["greeting", "main_menu", "callback_confirm", "closing"]
    engine = make_engine(agi_env["HOTLINE_DATABASE__URL"])
    with session_factory(engine)() as s:
        [task] = s.scalars(select(OutboundTask)).all()
    engine.dispose()
    assert task.type is TaskType.REQUESTED and task.phone == CALLER_E164
    assert task.due_at >= before.replace(microsecond=0)


async def test_sighup_while_ringing_ends_the_process_at_once(agi_env: dict[str, str]) -> None:
    call = ClassicAsterisk(0, hang_up_after=(lambda line: line == "EXEC Ringing", 0.3))
    code, stderr = await run_classic(agi_env, call)
    assert code == 0 and "Traceback" not in stderr
    assert call.lines() == ["EXEC Ringing"]  # never answered a caller who left
    # and it exits promptly (the bound leaves room for interpreter teardown on a loaded machine)
    assert call.notice_at is not None and call.closed_at is not None
    assert call.closed_at - call.notice_at < 1.5


async def test_hangup_line_and_minus_one_do_not_crash_pyst2(agi_env: dict[str, str]) -> None:
    """pyst2 alone dies with int('') on the HANGUP line; through the adapter the call ends
    cleanly (here Asterisk sends the notice line instead of SIGHUP, as with FastAGI)."""
    call = ClassicAsterisk(0, digits=["1"], hang_up_at=lambda line: line.startswith("GET DATA"))
    call.sighup = False
    code, stderr = await run_classic(agi_env, call)
    assert code == 0 and "Traceback" not in stderr and "ValueError" not in stderr
    assert call.lines()[-1].startswith("GET DATA")


async def test_no_environment_is_a_clear_error(agi_env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(AGI_BIN), env=agi_env, cwd=REPO, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 1
    assert "no AGI environment on stdin" in err.decode()


@pytest.fixture
def bad_flow_env(agi_env: dict[str, str]) -> dict[str, str]:
    Path(agi_env["HOTLINE_IVR__FLOWS_DIR"], "classic.yaml").write_text(FLOW.replace("next: menu", "next: menuu"))
    return agi_env


async def test_bad_flow_is_refused_by_the_classic_entry_point(bad_flow_env: dict[str, str]) -> None:
    agi_env = bad_flow_env
    call = ClassicAsterisk(0)
    code, stderr = await run_classic(agi_env, call)
    assert code == 1
    assert "classic.yaml:6: node 'greet': next goes to unknown node 'menuu' (did you mean 'menu'?)" in stderr
    assert call.commands == []
