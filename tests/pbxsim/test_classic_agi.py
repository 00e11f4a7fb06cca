"""AGI(script): a classic AGI process per call, as res_agi runs one (launch_script, run_agi):
the script found in the AGI directory, the environment block without network lines, commands
on the process's stdin/stdout, SIGHUP on a hang-up, AGISTATUS from the process's exit."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from pbxsim.behaviours import CallerBehaviour, CallerSpec
from pbxsim.config import SimConfig
from tests.pbxsim.helpers import SPEED, Ami, running

DIALPLAN = """
[general]
[hotline-inbound]
exten => 100,1,AGI(probe.py,first,second)
 same => n,Set(HOTLINE_DISPOSITION=after-${AGISTATUS})
 same => n,Hangup()
exten => 101,1,AGI(no-such-script)
 same => n,Set(HOTLINE_DISPOSITION=after-${AGISTATUS})
 same => n,Hangup()
"""

# A classic AGI script: writes what it saw to $PROBE_OUT (JSON), answers, plays a prompt,
# then waits for the caller to hang up (SIGHUP) and asks a variable on the dead channel.
PROBE = """\
#!{python}
import json, os, signal, sys, time
hup = []
signal.signal(signal.SIGHUP, lambda *a: hup.append(time.monotonic()))
env = []
while True:
    line = sys.stdin.readline().rstrip("\\n")
    if not line:
        break
    env.append(line)
def cmd(text):
    sys.stdout.write(text + "\\n"); sys.stdout.flush()
    return sys.stdin.readline().rstrip("\\n")
replies = [cmd("ANSWER"), cmd('STREAM FILE beep ""')]
deadline = time.monotonic() + 10
while not hup and time.monotonic() < deadline:
    time.sleep(0.01)
replies.append(cmd("GET VARIABLE CHANNEL"))
replies.append(cmd("STREAM FILE beep \\"\\""))
json.dump({{"argv": sys.argv[1:], "env": env, "hup": bool(hup), "replies": replies,
            "agi_dir": os.environ.get("AST_AGI_DIR")}}, open(os.environ["PROBE_OUT"], "w"))
sys.exit(int(os.environ.get("PROBE_EXIT", "0")))
"""


def agi_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "agi-bin"
    folder.mkdir()
    script = folder / "probe.py"
    script.write_text(PROBE.format(python=sys.executable))
    script.chmod(0o755)
    return folder


def config(tmp_path: Path) -> SimConfig:
    return SimConfig(ami_port=0, speed=SPEED, record_dir=tmp_path, dialplan_text=DIALPLAN,
                     agi_dir=agi_dir(tmp_path), sound_durations={"beep": 0.5})


async def test_classic_agi_process_speaks_agi_on_stdin_stdout(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "probe.json"
    monkeypatch.setenv("PROBE_OUT", str(out))
    async with running(config(tmp_path)) as sim:
        ami = await Ami.connect(sim.ami_port)
        call = await sim.place_call(CallerSpec("13800000001", "100", CallerBehaviour(hangup_after_answer=2)))
        record = await asyncio.wait_for(call.ended, 20)
        execs = [e["Command"] for e in ami.all_events if e.get("Event") == "AGIExecStart"]
        await ami.close()
    probe = json.loads(out.read_text())
    # argv: the AGI() arguments; the environment block: agi_request first, no network lines
    assert probe["argv"] == ["first", "second"]
    assert probe["env"][0] == "agi_request: probe.py"
    assert not any(line.startswith("agi_network") for line in probe["env"])
    assert "agi_arg_1: first" in probe["env"] and "agi_arg_2: second" in probe["env"]
    assert probe["agi_dir"] == str(tmp_path / "agi-bin")
    # the caller's hang-up came as SIGHUP, and the channel then ran dead
    assert probe["hup"] is True
    answer, stream, variable, dead = probe["replies"]
    assert answer == "200 result=0" and stream.startswith("200 result=0 endpos=")
    assert variable.startswith("200 result=1 (PJSIP/carrier-")
    assert dead.startswith("511 ")
    assert "HANGUP" not in probe["replies"]
    assert execs[:2] == ["ANSWER", 'STREAM FILE beep ""']
    assert record["agi"] == [{"url": "probe.py", "status": "HANGUP"}]


async def test_exit_status_and_missing_script_set_agistatus(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "probe.json"))
    monkeypatch.setenv("PROBE_EXIT", "3")
    dialplan = DIALPLAN.replace("AGI(probe.py,first,second)", "AGI(probe.py)")
    # the script sees no SIGHUP here (the caller stays), so it waits its 10 s: shorten that
    cfg = config(tmp_path)
    script = cfg.agi_dir / "probe.py"
    script.write_text(script.read_text().replace("+ 10", "+ 0.2"))
    cfg.dialplan_text = dialplan
    async with running(cfg) as sim:
        failed = await sim.place_call(CallerSpec("13800000002", "100", CallerBehaviour()))
        missing = await sim.place_call(CallerSpec("13800000003", "101", CallerBehaviour()))
        failed_rec = await asyncio.wait_for(failed.ended, 20)
        missing_rec = await asyncio.wait_for(missing.ended, 20)
    assert failed_rec["variables"]["HOTLINE_DISPOSITION"] == "after-FAILURE"
    assert missing_rec["variables"]["HOTLINE_DISPOSITION"] == "after-NOTFOUND"
    assert missing_rec["agi"] == [{"url": "no-such-script", "status": "NOTFOUND"}]

