"""Faults on demand, for testing how hotline copes with a misbehaving Asterisk.

Every switch works on the live AMI sessions (and, where it makes sense, on new ones):
``drop_ami``, ``half_open``/``recover``, ``delay_replies``, ``split_frames``,
``send_malformed``, ``send_invalid_utf8``, ``send_raw``; ``PbxSimulator.restart`` is the last one.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pbxsim.simulator import PbxSimulator

MALFORMED_FRAMES = [
    b"Event: Broken\r\nThis line has no colon\r\nPrivilege: call,all\r\n\r\n",
    b"Response Success\r\nMessage without colon after key\r\n\r\n",
    b"\r\n\r\n",
    b"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/broken-00000000\r\n: empty key\r\n\r\n",
]
INVALID_UTF8_FRAME = (
    b"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/carrier-ffffffff\r\n"
    b"Variable: CALLERID(name)\r\nValue: \xff\xfe\xc3\x28 \xe4\xbd\r\n\r\n"
)


class Faults:
    def __init__(self, sim: PbxSimulator) -> None:
        self.sim = sim
        self.rng = random.Random(f"{sim.config.seed}-faults")
        self.silent = False
        self.reply_delay = 0.0
        self.split: Literal["byte", "random"] | None = None
        self.split_pause = 0.0

    @property
    def _sessions(self):  # noqa: ANN202
        return list(self.sim.ami.sessions)

    def drop_ami(self, *, abort: bool = True) -> int:
        """Cut every AMI connection (RST with ``abort``, FIN otherwise). Returns how many."""
        sessions = self._sessions
        for s in sessions:
            s.drop(abort=abort)
        return len(sessions)

    def half_open(self) -> None:
        """Go silent: keep the sockets, stop reading and answering (a hung Asterisk)."""
        self.silent = True
        for s in self._sessions:
            s.go_silent()

    def recover(self) -> None:
        """End ``half_open``: queued actions are read and answered again."""
        self.silent = False
        for s in self._sessions:
            s.recover()

    def delay_replies(self, seconds: float) -> None:
        """Answer actions ``seconds`` late (events keep flowing). 0 turns it off."""
        self.reply_delay = max(0.0, seconds)

    def split_frames(self, mode: Literal["byte", "random"] | None = "byte", pause: float = 0.0) -> None:
        """Write every message in pieces: one byte per write, or cut at a random offset."""
        self.split = mode
        self.split_pause = pause

    def send_raw(self, data: bytes, *, logged_in_only: bool = True) -> None:
        for s in self._sessions:
            if s.authenticated or not logged_in_only:
                s.raw(data)

    def send_malformed(self) -> None:
        """Frames a real Asterisk would not send: lines without colons, empty keys, blank frames."""
        for frame in MALFORMED_FRAMES:
            self.send_raw(frame)

    def send_invalid_utf8(self) -> None:
        self.send_raw(INVALID_UTF8_FRAME)

    def clear(self) -> None:
        self.recover()
        self.reply_delay = 0.0
        self.split = None
