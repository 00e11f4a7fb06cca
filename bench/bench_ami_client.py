"""The AMI client alone, in process: the cost of its read path and of a burst of Hangups.

    .venv/bin/python bench/bench_ami_client.py [--repo PATH]

Two figures that bench/bench_bridge.py cannot separate from the machine's noise (the replay
process, the writer thread's GIL turns), for comparing two versions of
``ami_bridge/protocol.py`` (``--repo`` points at another checkout, e.g. one made with
``git archive <commit> | tar -x -C /tmp/old``; it needs var/bench/ami-load-200.ami, which
bench_bridge.py records):

* read: the recorded stream fed 4 times, in 64 KiB chunks, to the client's asyncio protocol
  (``data_received``) with the state machine's interest (event names and raw filters) and a
  no-op handler: CPU µs per event, best of 7;
* write: 1,000 ``send_action_nowait("Hangup")`` in a row (what 1,000 ring-5 deadlines due at
  once do), to a transport that keeps the bytes, then their 1,000 replies read back: ms for
  each half, best of 15.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any


class _Sink(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []

    def is_closing(self) -> bool:
        return False

    def write(self, data: Any) -> None:
        self.out.append(bytes(data))

    def abort(self) -> None:
        pass


def _attach(client: Any, protocol: Any) -> Any:
    """A protocol for ``client`` on a fresh sink, logged in (either client version)."""
    if hasattr(client, "manager"):  # panoramisk underneath
        proto = protocol.HotlineProtocol(client.manager)
        proto.connection_made(_Sink())
        client.manager.protocol = proto
        client.manager.authenticated = True
    else:  # the client before panoramisk
        proto = protocol._Session(client)
        proto.connection_made(_Sink())
        client._session = proto
        client._logged_in = True
    proto.data_received(b"Asterisk Call Manager/11.0.0\r\n")
    return proto


async def _measure(repo: Path) -> None:
    from ami_bridge import protocol
    from ami_bridge.agents import AgentBook
    from ami_bridge.state import CallTracker, TrackerConfig
    from hotline.domain.ring import RingPolicy
    from hotline.settings import Settings

    stream = (repo / "var" / "bench" / "ami-load-200.ami").read_bytes()
    settings = Settings()
    tracker = CallTracker(TrackerConfig(pbx="pbx1", ring=RingPolicy.from_settings(settings.ring),
                                        no_answer_pause_after=2, region="CN"), AgentBook("pbx1"))
    client = protocol.AmiClient(protocol.AmiConfig())
    client.events.add(lambda _e: None, name="no-op", events=tuple(sorted(tracker.handled_events)),
                      raw_filters=tracker.raw_filters())
    events = stream.count(b"\r\n\r\n") * 4
    best = float("inf")
    for _ in range(7):
        proto = _attach(client, protocol)
        started = time.process_time()
        for _copy in range(4):
            for i in range(0, len(stream), 65536):
                proto.data_received(stream[i:i + 65536])
        best = min(best, time.process_time() - started)
    print(f"read : {best * 1e6 / events:.2f} µs per event ({events / best:,.0f} events/s; {events} events)")

    write = reply = float("inf")
    for _ in range(15):
        proto = _attach(client, protocol)
        started = time.perf_counter()
        futures = [client.send_action_nowait("Hangup", {"Channel": f"PJSIP/1001-{i:08x}", "Cause": 19})
                   for i in range(1000)]
        written = time.perf_counter()
        ids = [w.split(b"ActionID: ")[1].split(b"\r\n")[0] for w in proto.transport.out]
        replies = b"".join(b"Response: Success\r\nActionID: " + a + b"\r\nMessage: Channel Hungup\r\n\r\n"
                           for a in ids)
        before_replies = time.perf_counter()
        for i in range(0, len(replies), 65536):
            proto.data_received(replies[i:i + 65536])
        await asyncio.sleep(0)
        done = time.perf_counter()
        assert all(f.done() and f.exception() is None for f in futures)
        write, reply = min(write, written - started), min(reply, done - before_replies)
    print(f"write: 1,000 Hangups written in {write * 1e3:.2f} ms, their replies matched in {reply * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout whose ami_bridge to measure (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    print(f"ami_bridge from {args.repo.resolve()}")
    asyncio.run(_measure(args.repo.resolve()))


if __name__ == "__main__":
    main()
