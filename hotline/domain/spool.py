"""Names of the files MixMonitor writes into the recordings spool.

The IVR names each spool file after the call and the recorded channel, so that the recordings
service can tell which call a file belongs to from its name alone, even after a restart that
lost every in-memory trace of the call. ``<pbx>-<linkedid>-<uniqueid>.wav``, e.g.
``pbx1-1700000000.12-1700000000.12.wav`` for the bridged part of an agent call (MixMonitor
option ``b``), and ``<pbx>-<linkedid>-<uniqueid>-call.wav`` for a whole call recorded from the
answer on (a blacklisted caller), so the two never share a file if both are started.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hotline.domain.events import call_key
from hotline.settings import PBX_NAME_PATTERN

# PBX_NAME_PATTERN (letters, digits, '_', '.', '-') is what settings.ami.pbx_name accepts. The
# name has a fixed number of fields after the pbx (two Asterisk ids, then an optional "-call"),
# so a '-' in the pbx name cannot make it ambiguous.
_SAFE_PBX = re.compile(PBX_NAME_PATTERN)
_ASTERISK_ID = re.compile(r"^\d+\.\d+$")
_NAME = re.compile(
    r"^(?P<pbx>[A-Za-z0-9_.-]+)-(?P<linkedid>\d+\.\d+)-(?P<uniqueid>\d+\.\d+)"
    r"(?P<whole>-call)?\.wav$"
)
WHOLE_CALL_SUFFIX = "-call"


@dataclass(frozen=True)
class SpoolName:
    pbx: str
    linkedid: str
    uniqueid: str
    whole_call: bool = False

    @property
    def call_key(self) -> str:
        return call_key(self.pbx, self.linkedid)


def spool_file_name(pbx: str, linkedid: str, uniqueid: str, *, whole_call: bool = False) -> str:
    """The file name (no directory) MixMonitor should write the channel ``uniqueid`` of the call
    ``(pbx, linkedid)`` to; ``whole_call`` for a recording of the whole call rather than of its
    bridged part."""
    if not _SAFE_PBX.match(pbx):
        raise ValueError(f"pbx name {pbx!r} may hold only letters, digits, '_', '.' and '-'")
    for label, value in (("linkedid", linkedid), ("uniqueid", uniqueid)):
        if not _ASTERISK_ID.match(value):
            raise ValueError(f"{label} {value!r} is not an Asterisk id like 1700000000.12")
    return f"{pbx}-{linkedid}-{uniqueid}{WHOLE_CALL_SUFFIX if whole_call else ''}.wav"


def parse_spool_file_name(name: str) -> SpoolName | None:
    """The call a spool file belongs to, or None for a name hotline did not give."""
    m = _NAME.match(name)
    if m is None:
        return None
    return SpoolName(m["pbx"], m["linkedid"], m["uniqueid"], whole_call=m["whole"] is not None)
