"""Local channels: ``Local/exten@context`` is a pair of channels, ``;1`` facing the caller and
``;2`` running the dialplan at exten@context. What ``;2`` does (Ringing, Answer, Busy, hangup)
reaches whoever dialled ``;1``, as with chan_local (no optimisation: the pair stays)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbxsim.channel import BUSY, DOWN, RING, RINGING, UP, Channel

if TYPE_CHECKING:
    from pbxsim.pbx import Pbx


class LocalPair:
    def __init__(self, pbx: Pbx, exten: str, context: str, linkedid: str | None,
                 ids: tuple[str | None, str | None] = (None, None)) -> None:
        self.pbx = pbx
        self.exten = exten
        self.context = context
        resource = f"{exten}@{context}"
        base = pbx.local_base(resource)
        device = f"Local/{resource}"
        self.one = Channel(pbx, name=base + ";1", tech="Local", resource=resource, state=DOWN,
                           context=context, exten=exten, linkedid=linkedid, device=device, uniqueid=ids[0])
        self.two = Channel(pbx, name=base + ";2", tech="Local", resource=resource, state=RING,
                           context=context, exten=exten, linkedid=self.one.linkedid, device=device,
                           uniqueid=ids[1])
        self.one.peer_local = self.two
        self.two.peer_local = self.one
        self.two.local_two = True
        self.one.announce()
        self.two.announce()

    def local_bridge(self) -> None:
        one, two = self.one, self.two
        self.pbx.hub.emit("LocalBridge", "call", [
            *one.snapshot("LocalOne"), *two.snapshot("LocalTwo"),
            ("Context", self.context), ("Exten", self.exten), ("LocalOptimization", "Yes"),
        ])

    def can_call(self) -> bool:
        return self.pbx.dialplan.exists(self.context, self.exten, 1)

    def fail(self) -> None:
        """The context/extension does not exist: ``;2`` goes at once (no LocalBridge)."""
        two = self.two
        two.peer_local = None
        self.one.peer_local = None
        two.destroy(cdr_first=True)
        self.pbx.set_device(self.one.device, "INVALID")

    def start(self) -> None:
        """Run ``;2`` through the dialplan."""
        from pbxsim.dialplan.runner import run_pbx

        self.one.dev_active = True
        self.two.dev_active = True
        self.pbx.update_device(self.one.device)
        self.pbx.spawn(run_pbx(self.two), name=f"pbx {self.two.name}")


def indicate_ringing(two: Channel) -> None:
    one = two.peer_local
    if one is not None and not one.destroyed and one.state < RINGING:
        one.set_state(RINGING)
        one.notify("ringing")


def answer_local(two: Channel) -> None:
    two.set_state(UP)
    one = two.peer_local
    if one is not None and not one.destroyed and one.state != UP:
        one.set_state(UP)
        one.notify("answer")


def indicate_busy(two: Channel) -> None:
    two.set_state(BUSY)
    one = two.peer_local
    if one is not None and not one.destroyed:
        one.notify("busy")


def indicate_congestion(two: Channel) -> None:
    one = two.peer_local
    if one is not None and not one.destroyed:
        one.notify("congestion")
