"""A basic two-party bridge with Asterisk's Bridge* events and BRIDGEPEER variables."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pbxsim.ami.wire import Headers

if TYPE_CHECKING:
    from pbxsim.channel import Channel
    from pbxsim.pbx import Pbx


class Bridge:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.uniqueid = str(uuid.UUID(int=pbx.rng.getrandbits(128), version=4))
        self.channels: list[Channel] = []
        self.technology = "simple_bridge"
        self.created = pbx.clock.now()
        self.destroyed = False

    def fields(self) -> Headers:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", self.technology),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.channels))),
            ("BridgeVideoSourceMode", "none"),
        ]

    def create(self) -> None:
        self.pbx.hub.emit("BridgeCreate", "call", self.fields())
        self.pbx.bridges[self.uniqueid] = self

    def enter(self, chan: Channel) -> None:
        self.channels.append(chan)
        chan.bridge = self
        self.pbx.hub.emit("BridgeEnter", "call", [*self.fields(), *chan.snapshot()])

    def leave(self, chan: Channel) -> None:
        if chan not in self.channels:
            return
        self.channels.remove(chan)
        chan.bridge = None
        self.pbx.hub.emit("BridgeLeave", "call", [*self.fields(), *chan.snapshot()])

    def destroy(self) -> None:
        if self.destroyed:
            return
        self.destroyed = True
        self.pbx.hub.emit("BridgeDestroy", "call", self.fields())
        self.pbx.bridges.pop(self.uniqueid, None)

    def peer_of(self, chan: Channel) -> Channel | None:
        for other in self.channels:
            if other is not chan:
                return other
        return None

    def set_peer_vars(self, first: Channel, second: Channel) -> None:
        """BRIDGEPEER (and BRIDGEPVTCALLID when the peer is SIP) on both sides."""
        for chan, peer in ((first, second), (second, first)):
            chan.set_var("BRIDGEPEER", peer.name)
            if peer.pvt_callid:
                chan.set_var("BRIDGEPVTCALLID", peer.pvt_callid)

    @staticmethod
    def clear_peer_vars(first: Channel, second: Channel) -> None:
        for chan, peer in ((first, second), (second, first)):
            if chan.destroyed:
                continue
            chan.set_var("BRIDGEPEER", "")
            if peer.pvt_callid:
                chan.set_var("BRIDGEPVTCALLID", "")
