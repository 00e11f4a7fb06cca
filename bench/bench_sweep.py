"""How long the recordings sweep holds the event loop when the spool is full.

    .venv/bin/python bench/bench_sweep.py [--files 500,1500,3000,6000] [--repeat 3]

Every answered call leaves a MixMonitor file in the spool until the flag grace period (10
minutes) has passed, so in a busy hour the spool holds calls/s x 600 files, each tracked by the
recordings service; the sweep runs every 15 s on the same event loop that times the rings and
the AMI pings. For N tracked calls with one spool file each (ended, still in the grace period),
this prints the longest time the loop could not run anything else during one sweep (a 1 ms
ticker's worst delay) and the sweep's duration, beside the baseline measured in the same run:
one plain ``os.scandir`` listing of the same spool run on the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.domain.spool import spool_file_name  # noqa: E402
from hotline.settings import Settings  # noqa: E402
from recordings.service import RecordingService  # noqa: E402


async def _worst_stall(work) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(longest loop stall, duration) while ``work()`` runs."""
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - start - 0.001)

    tick = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await work()
    took = time.perf_counter() - started
    done = True
    await tick
    return worst, took


def _service(n: int) -> RecordingService:
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    settings = Settings(database={"url": f"sqlite:///{tmp / 'unused.db'}"},
                        recordings={"spool_dir": tmp / "spool", "store_dir": tmp / "store"})
    svc = RecordingService(settings, sessions=None)  # type: ignore[arg-type]  # no flags: no DB
    svc.spool.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)
    for i in range(n):
        linkedid = f"1763863200.{i}"
        path = svc.spool / spool_file_name("pbx1", linkedid, linkedid)
        path.write_bytes(b"RIFF")
        call = svc.calls.track(f"pbx1:{linkedid}")
        call.spool_files.add(path)
        call.ended_at = now
    return svc


async def measure(n: int, repeat: int) -> dict[str, float]:
    svc = _service(n)

    async def listing() -> None:
        with os.scandir(svc.spool) as entries:
            sum(1 for _ in entries)

    async def sweep() -> None:
        await svc.sweep()

    base = [await _worst_stall(listing) for _ in range(repeat)]
    runs = [await _worst_stall(sweep) for _ in range(repeat)]
    return {
        "files": n,
        "baseline_stall_ms": 1000 * statistics.median(s for s, _ in base),
        "sweep_stall_ms": 1000 * statistics.median(s for s, _ in runs),
        "sweep_ms": 1000 * statistics.median(t for _, t in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="500,1500,3000,6000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'files':>6} {'scandir on the loop (baseline)':>31} {'sweep: loop stall':>18} "
          f"{'ratio':>6} {'sweep duration':>15}")
    for n in (int(x) for x in args.files.split(",")):
        r = asyncio.run(measure(n, args.repeat))
        print(f"{n:>6} {r['baseline_stall_ms']:>28.1f} ms {r['sweep_stall_ms']:>15.1f} ms "
              f"{r['sweep_stall_ms'] / max(r['baseline_stall_ms'], 1e-3):>6.1f} "
              f"{r['sweep_ms']:>12.1f} ms", flush=True)


if __name__ == "__main__":
    main()
