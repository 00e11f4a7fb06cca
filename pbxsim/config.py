"""The simulator's settings (what an Asterisk would read from its .conf files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import asterisk.config as pyst_config

DEFAULT_CHANNEL_VARS = ("HOTLINE_CALL_ID", "HOTLINE_ATTEMPT_ID", "HOTLINE_CATEGORY")
REPO = Path(__file__).resolve().parent.parent


@dataclass
class AmiUser:
    secret: str
    read: str = "all"  # event classes the user may read (manager.conf ``read``)
    write: str = "all"  # action classes the user may use (manager.conf ``write``)


@dataclass
class SimConfig:
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038  # 0: pick a free port (tests)
    agi_url: str | None = None  # overrides the dialplan's HOTLINE_AGI global when set
    speed: float = 1.0
    # "real": durations in AGI commands and AMI actions are real seconds (a client compressed
    # by the same speed); "simulated": they are simulated seconds, like the dialplan's.
    client_time: str = "simulated"
    dialplan: Path | None = None  # extensions.conf; default deploy/asterisk/extensions.conf
    dialplan_text: str | None = None
    record_dir: Path = Path("var/pbxsim/monitor")  # relative MixMonitor / RECORD FILE paths
    sounds_dir: Path | None = None  # relative sound names (Playback(hello-world))
    agi_dir: Path = Path("/var/lib/asterisk/agi-bin")  # astagidir: AGI(script) without a path
    sound_durations: dict[str, float] = field(default_factory=dict)
    truth_log: Path | None = None
    ami_users: dict[str, str | AmiUser] = field(default_factory=lambda: {"hotline": "hotline"})
    channel_vars: tuple[str, ...] = DEFAULT_CHANNEL_VARS
    trunks: dict[str, str] = field(default_factory=lambda: {"carrier": "hotline-inbound"})
    agent_context: str = "hotline-agents"
    sip_domain: str = "carrier.example.net"
    ring_on: float = 1.0  # ring cadence (mainland China: 1 s on, 4 s off)
    ring_off: float = 4.0
    seed: int = 1
    asterisk_version: str = "22.10.1"
    first_channel_seq: int = 0  # Asterisk counts channels and Uniqueids from 0 after a start
    first_uniqueid_seq: int = 0
    login_failure_delay: float = 1.0  # real seconds, as Asterisk's manager.c
    # manager.conf [general] timestampevents: every event carries ``Timestamp: <sec.usec>``
    timestamp_events: bool = False
    security_events: bool = True

    @property
    def ring_period(self) -> float:
        return self.ring_on + self.ring_off

    def users(self) -> dict[str, AmiUser]:
        return {name: (u if isinstance(u, AmiUser) else AmiUser(u)) for name, u in self.ami_users.items()}

    def dialplan_path(self) -> Path:
        return self.dialplan or REPO / "deploy" / "asterisk" / "extensions.conf"


def read_manager_conf(path: str | Path) -> tuple[dict[str, AmiUser], tuple[str, ...]]:
    """AMI users and ``channelvars`` from a manager.conf (via pyst2's parser)."""
    cfg = pyst_config.Config(str(path))
    users: dict[str, AmiUser] = {}
    channel_vars: tuple[str, ...] = ()
    for cat in cfg.categories:
        items = {i.name.strip().lower(): i.value.strip() for i in cat.items}
        if cat.name == "general":
            if items.get("channelvars"):
                channel_vars = tuple(v.strip() for v in items["channelvars"].split(",") if v.strip())
            continue
        if "secret" in items:
            users[cat.name] = AmiUser(items["secret"], items.get("read", "all"), items.get("write", "all"))
    return users, channel_vars
