"""How many AMI events per second pbxsim emits to one client, against a raw-socket baseline.

    .venv/bin/python bench/bench_pbxsim.py [--events 200000] [--repeat 3]

The simulator (this process, pinned to one CPU when possible) publishes VarSet events on a live
channel through its real path: channel snapshot + ChanVariables, encoding, fan-out, session
buffering, TCP. A separate client process (on another CPU) logs in and counts messages. The
baseline writes the same number of pre-encoded event frames of the same size to the same kind
of client over a plain asyncio transport, so the ratio shows what the simulator's own work
costs. Target: at least 50,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pbxsim.ami.wire import encode  # noqa: E402
from pbxsim.behaviours import CallerBehaviour, CallerSpec  # noqa: E402
from pbxsim.config import SimConfig  # noqa: E402
from pbxsim.simulator import PbxSimulator  # noqa: E402

CLIENT = textwrap.dedent("""
    import socket, sys, time
    port, login, total = int(sys.argv[1]), sys.argv[2] == "login", int(sys.argv[3])
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    buf = b""
    if login:
        s.sendall(b"Action: Login\\r\\nUsername: bench\\r\\nSecret: bench\\r\\nEvents: dialplan\\r\\n\\r\\n")
    count = 0
    start = None
    marker = b"VarSet"
    tail = b""
    while count < total:
        data = s.recv(1 << 20)
        if not data:
            break
        chunk = tail + data
        n = chunk.count(b"Event: VarSet\\r\\n")
        if n and start is None:
            start = time.perf_counter()
        count += n
        tail = chunk[-16:]
        if chunk.count(b"Event: VarSet\\r\\n") != n:
            pass
    end = time.perf_counter()
    print(count, start, end, flush=True)
""")


def pin(cpu: int) -> None:
    try:
        os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})
    except (AttributeError, OSError):
        pass


def start_client(port: int, login: bool, total: int, script: Path) -> subprocess.Popen[str]:
    cpus = os.cpu_count() or 1
    cmd = [sys.executable, str(script), str(port), "login" if login else "raw", str(total)]
    if cpus > 1 and Path("/usr/bin/taskset").exists():
        cmd = ["/usr/bin/taskset", "-c", "1", *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


async def _drain(transport: asyncio.WriteTransport, high: int = 8 << 20) -> None:
    # Polling keeps the producer's side identical for the simulator and the baseline.
    while transport.get_write_buffer_size() > high:  # noqa: ASYNC110
        await asyncio.sleep(0.0005)


async def run_sim(total: int, script: Path, variable: str = "HOTLINE_STEP") -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sim = PbxSimulator(SimConfig(
            ami_port=0, record_dir=Path(tmp), ami_users={"bench": "bench"}, security_events=False,
            dialplan_text="[general]\n[hotline-inbound]\nexten => _X.,1,Answer()\n same => n,Wait(3600)\n"))
        await sim.start()
        client = start_client(sim.ami_port, True, total, script)
        while not any(s.authenticated for s in sim.ami.sessions):  # noqa: ASYNC110 - another process logs in
            await asyncio.sleep(0.01)
        session = next(iter(sim.ami.sessions))
        call = await sim.place_call(CallerSpec("13800000001", "4008001234", CallerBehaviour()))
        await asyncio.sleep(0.1)
        chan = call.channel
        await asyncio.sleep(0)
        start = time.perf_counter()
        for i in range(total):
            chan.set_var(variable, "consultation" if i & 1 else "complaint")
            if i % 500 == 499:
                await asyncio.sleep(0)
                if session.transport is not None:
                    await _drain(session.transport)
        out, _ = await asyncio.get_running_loop().run_in_executor(None, client.communicate)
        elapsed = time.perf_counter() - start
        count = int(out.split()[0])
        call.hang_up()
        await sim.stop()
    # the call's own SIPDOMAIN VarSet arrived before the loop started; it is in the count
    return count / elapsed


async def run_raw(total: int, frame: bytes, script: Path) -> float:
    accepted: asyncio.Future[asyncio.Transport] = asyncio.get_running_loop().create_future()

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            accepted.set_result(transport)

    server = await asyncio.get_running_loop().create_server(Proto, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = start_client(port, False, total, script)
    transport = await accepted
    start = time.perf_counter()
    batch: list[bytes] = []
    for i in range(total):
        batch.append(frame)
        if i % 500 == 499:
            transport.write(b"".join(batch))
            batch.clear()
            await asyncio.sleep(0)
            await _drain(transport)
    if batch:
        transport.write(b"".join(batch))
    out, _ = await asyncio.get_running_loop().run_in_executor(None, client.communicate)
    elapsed = time.perf_counter() - start
    transport.close()
    server.close()
    return int(out.split()[0]) / elapsed


def sample_frame() -> bytes:
    """A VarSet frame of the size the simulator sends (snapshot + 3 ChanVariables)."""
    snap = [("Channel", "PJSIP/carrier-00000001"), ("ChannelState", "4"), ("ChannelStateDesc", "Ring"),
            ("CallerIDNum", "13800000001"), ("CallerIDName", "<unknown>"), ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"), ("Language", "en"), ("AccountCode", ""),
            ("Context", "hotline-inbound"), ("Exten", "4008001234"), ("Priority", "2"),
            ("Uniqueid", "1795390124.1"), ("Linkedid", "1795390124.1"),
            ("ChanVariable", "HOTLINE_CALL_ID="), ("ChanVariable", "HOTLINE_ATTEMPT_ID="),
            ("ChanVariable", "HOTLINE_CATEGORY=consultation")]
    return encode([("Event", "VarSet"), ("Privilege", "dialplan,all"), *snap,
                   ("Variable", "HOTLINE_CATEGORY"), ("Value", "consultation")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pin(0)
    frame = sample_frame()
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(CLIENT)
        script = Path(fh.name)
    try:
        sims, raws, worst = [], [], []
        for _ in range(args.repeat):
            raws.append(asyncio.run(run_raw(args.events, frame, script)))
            sims.append(asyncio.run(run_sim(args.events, script)))
            worst.append(asyncio.run(run_sim(args.events, script, "HOTLINE_CATEGORY")))
    finally:
        script.unlink()
    sim, raw, bad = statistics.median(sims), statistics.median(raws), statistics.median(worst)

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:,.0f}" for v in values)

    print(f"events per run        {args.events:,} VarSet events of {len(frame)} bytes, one client")
    print(f"raw socket baseline   {raw:12,.0f} events/s  (runs: {runs(raws)})")
    print(f"pbxsim AMI events     {sim:12,.0f} events/s  (runs: {runs(sims)})")
    print(f"ratio pbxsim/raw      {sim / raw:12.2f}")
    print(f"worst case            {bad:12,.0f} events/s  (every event changes a ChanVariable; runs: {runs(worst)})")
    print(f"target 50,000/s       {'met' if sim >= 50_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
