"""The live feed relay (PostgreSQL LISTEN/NOTIFY): latency from a bridge process's bus to a
web worker's feed, and events per second through one listening connection.

    .venv/bin/python bench/live_relay.py [--events 20000] [--rate 50] [--seconds 5]

Publisher and listener are hotline's own (hotline.web.live_relay), each on its own connection
as in two processes, with a LiveFeed and one supervisor's browser queue at the end; the
payloads are call_updated summaries of a real size (~450 bytes). Measured:

* latency at a paced rate (``--rate`` events/s for ``--seconds``; 50/s is the busy hour of
  500 agents) and at 10x that: from ``publisher.handle`` on the bus side to the payload in
  the browser's queue; p50/p99/max in ms;
* throughput: ``--events`` published at once by a child process (as a bridge process would),
  until the last is in this process's browser queue;
* baseline, same run and server: the same payloads sent by a child process one ``SELECT
  pg_notify`` per event and round trip (what an unbatched relay would do); printed as the
  relay's events/s over the baseline's.

PostgreSQL is a throwaway server on loopback (hotline.devtools.pgserver), or the one in
HOTLINE_BENCH_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from hotline.db.session import make_engine  # noqa: E402
from hotline.domain.enums import Role  # noqa: E402
from hotline.domain.events import CallRecord, CallUpdated, LegRecord  # noqa: E402
from hotline.web.auth.principal import Principal  # noqa: E402
from hotline.web.live import LiveFeed, LivePayloads  # noqa: E402
from hotline.web.live_relay import (  # noqa: E402
    CHANNEL,
    LiveRelayListener,
    LiveRelayPublisher,
    conninfo_of,
)

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
SUP = Principal(user_id=1, username="sup", display_name="sup", role=Role.SUPERVISOR,
                agent_id=None, extension=None, via="token", client=None)


def event(n: int) -> CallUpdated:
    record = CallRecord(
        pbx="pbx1", linkedid=f"1772416800.{n}", uniqueid=f"1772416800.{n}",
        direction="inbound", caller_number="+8613800138000", dialled_number="12345",
        arrived_at=NOW, category="complaint", queue="general",
        legs=(LegRecord(uniqueid=f"1772416801.{n}", channel="PJSIP/1001-00000002",
                        role="agent", agent_id=17, created_at=NOW),),
    )
    return CallUpdated(at=NOW, record=record)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def paced(publisher: LiveRelayPublisher, browser: Any, rate: float, seconds: float
                ) -> list[float]:
    """Latencies (ms) of events published at ``rate`` per second."""
    count = int(rate * seconds)
    sent: dict[str, float] = {}
    got: list[float] = []

    async def receive() -> None:
        while len(got) < count:
            payload = await browser.queue.get()
            got.append((time.perf_counter() - sent[payload["call_key"]]) * 1000)

    reader = asyncio.get_running_loop().create_task(receive())
    start = time.perf_counter()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        ev = event(n)
        sent[f"pbx1:{ev.record.linkedid}"] = time.perf_counter()
        publisher.handle(ev)
    await asyncio.wait_for(reader, 30)
    return got


def publish_relay(conninfo: str, count: int) -> None:
    """In a child process, as a bridge process would: ``count`` events through the relay."""
    publisher = LiveRelayPublisher(conninfo, origin="bench-child", max_pending=count + 10)
    publisher.start()
    for n in range(count):
        publisher.handle(event(n))
    publisher.stop(timeout=60)


def publish_unbatched(conninfo: str, count: int) -> None:
    """The baseline, in a child process: the same payloads, one pg_notify per event and round
    trip."""
    payloads = LivePayloads()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for n in range(count):
            text = json.dumps({"origin": "base", "seq": n + 1,
                               "payload": payloads.build(event(n))},
                              ensure_ascii=False, separators=(",", ":"), default=str)
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, text))


async def from_child(target: Any, conninfo: str, browser: Any, count: int) -> float:
    """Events per second from a child process into this process's browser queue, timed from
    the first arrival to the last (the child's start-up excluded)."""
    child = multiprocessing.get_context("fork").Process(target=target, args=(conninfo, count))
    child.start()
    await asyncio.wait_for(browser.queue.get(), 30)
    start = time.perf_counter()
    for _ in range(count - 1):
        await asyncio.wait_for(browser.queue.get(), 30)
    elapsed = time.perf_counter() - start
    await asyncio.to_thread(child.join)
    return (count - 1) / elapsed


async def run(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    conninfo = conninfo_of(engine)
    engine.dispose()
    feed = LiveFeed(maxsize=args.events + 10)
    publisher = LiveRelayPublisher(conninfo, origin="bench", max_pending=args.events + 10)
    publisher.start()
    size = len(json.dumps(LivePayloads().build(event(1)), ensure_ascii=False).encode())
    with feed.listen(SUP) as browser:
        async with LiveRelayListener(conninfo, feed) as listener:
            await asyncio.wait_for(listener.listening.wait(), 10)
            await paced(publisher, browser, 20, 1)  # warm-up
            for rate in (args.rate, args.rate * 10):
                lat = await paced(publisher, browser, rate, args.seconds)
                print(f"latency at {rate:>5.0f} ev/s ({len(lat)} events): "
                      f"p50 {statistics.median(lat):.2f} ms, p99 {pct(lat, 0.99):.2f} ms, "
                      f"max {max(lat):.2f} ms")
            relay_rate = await from_child(publish_relay, conninfo, browser, args.events)
            base_rate = await from_child(publish_unbatched, conninfo, browser, args.events)
    publisher.stop()
    print(f"throughput, {args.events} events of {size} bytes at once: "
          f"relay {relay_rate:,.0f} ev/s, "
          f"unbatched baseline {base_rate:,.0f} ev/s, ratio {relay_rate / base_rate:.1f}x")
    print(f"listener: received {listener.stats.received}, missed {listener.stats.missed}; "
          f"paced publisher dropped {publisher.stats.dropped}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    url = os.environ.get("HOTLINE_BENCH_DATABASE_URL")
    server = None
    if not url:
        from hotline.devtools.pgserver import PostgresServer

        server = PostgresServer().start()
        url = server.url()
    try:
        asyncio.run(run(url, args))
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
