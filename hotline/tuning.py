"""Two process-wide settings that keep a long-running hotline process's event loop prompt.

The AMI bridge decides on every event inline on the event loop, and its ring-5 deadlines are
timers on it: whatever stops the loop makes both late. Two things in CPython do, and
bench/bench_bridge.py measures both:

* The full (generation 2) garbage collection walks every container object alive. Right after
  start-up that is everything imported and built (SQLAlchemy, pydantic, FastAPI, the parts'
  objects): ~100 ms on the project's 2-core machine, during which the loop stands still.
  ``gc.freeze()`` once started moves all of it into a generation the collector never walks
  again; full passes then see only what the calls create (~10 ms). (Start-up garbage is
  collected first; nothing alive would have been freed anyway.)
* Threads take turns holding the GIL every ``sys.getswitchinterval()`` (5 ms by default).
  While the bridge's writer thread is busy in SQLAlchemy, the loop waits up to that long for
  each turn; 1 ms makes the p99 delay from an event's arrival to the bridge's decision about
  half, for a throughput cost too small to measure here.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL = 0.001


def tune_process() -> None:
    """Call once, when everything has started."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)
