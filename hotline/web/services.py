"""What the web app is given besides settings and a database: the live parts of a running
hotline (event bus, the bridge's agent control, the recordings service) and a clock. Each may
be missing; routes that need a missing one answer 503 saying what is not running.

Without a running recordings service the app makes a passive one of its own: recordings can
still be listed, played and downloaded, and flags are stored (the running hotline keeps the
recording of a flagged call), but nothing is played to the caller; the flag's answer says so
(``step: none``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from hotline.bus import EventBus
from hotline.domain.ports import AgentControl
from recordings.service import RecordingService


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ThrottlePolicy:
    """How repeated failed logins are slowed down.

    After ``user_free`` failures for one username (``client_free`` from one client address)
    within ``window`` seconds, each further attempt is refused for ``base_delay`` seconds,
    doubled per failure, at most ``max_delay``.
    """

    user_free: int = 3
    client_free: int = 10
    base_delay: float = 1.0
    max_delay: float = 900.0
    window: float = 900.0


@dataclass
class WebServices:
    bus: EventBus | None = None
    agent_control: AgentControl | None = None
    recordings: RecordingService | None = None
    clock: Callable[[], dt.datetime] = utc_now
    login_throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    # A live stream is closed after this long; browsers' EventSource reconnects by itself, so
    # a stream never outlives a deployment, a proxy timeout or a revoked session by much.
    live_stream_seconds: float = 600.0
