"""hotline.domain.ports.PbxActions over the AMI client: what other parts may ask Asterisk.

Originate is sent once, asynchronously, and waited for until its ``OriginateResponse``
(``timeout`` plus a margin for Asterisk to report). It is never re-sent: if the link goes
down before the answer, :class:`~ami_bridge.protocol.LinkLost` tells the caller that the
outcome is unknown (the scheduler then looks for its ``HOTLINE_ATTEMPT_ID`` in
CoreShowChannels). A link that is down when the Originate is asked for raises
:class:`~ami_bridge.protocol.LinkDown`: nothing was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from ami_bridge.frames import AmiMessage
from ami_bridge.protocol import ActionTimeout, AmiClient, AmiError
from hotline.domain.ports import OriginateResult

# How long Asterisk may take, beyond the dial timeout, to report an Originate's outcome.
ORIGINATE_MARGIN = 5.0


class AmiPbxActions:
    def __init__(self, client: AmiClient) -> None:
        self.client = client

    async def originate(
        self,
        *,
        action_id: str,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        timeout: float,
        caller_id: str,
        variables: Mapping[str, str],
    ) -> OriginateResult:
        headers: list[tuple[str, object]] = [
            ("Channel", channel), ("Context", context), ("Exten", exten),
            ("Priority", priority), ("Timeout", int(timeout * 1000)), ("CallerID", caller_id),
            ("Async", "true"),
        ]
        headers.extend(("Variable", f"{k}={v}") for k, v in variables.items())
        outcome = self.client.expect_event("OriginateResponse", action_id)
        limit = timeout + ORIGINATE_MARGIN
        try:
            await self.client.send_action("Originate", headers, action_id=action_id)
        except BaseException:
            outcome.cancel()
            raise
        try:
            event = await asyncio.wait_for(asyncio.shield(outcome), limit)
        except TimeoutError:
            outcome.cancel()
            raise ActionTimeout(
                f"no OriginateResponse for {action_id} within {limit:g}s: outcome unknown"
            ) from None
        except BaseException:
            outcome.cancel()
            raise
        uniqueid = event.get("Uniqueid")
        return OriginateResult(
            action_id=action_id,
            success=event.get("Response") == "Success",
            reason=int(event.get("Reason") or 0),
            channel=event.get("Channel") or None,
            uniqueid=None if uniqueid in (None, "", "<unknown>", "<null>") else uniqueid,
        )

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self.client.send_action("Hangup", {"Channel": channel, "Cause": cause})

    def hangup_nowait(self, channel: str, cause: int = 16) -> asyncio.Future[None]:
        """Send the Hangup at once (no task); the future fails as :meth:`hangup` would raise."""
        reply = self.client.send_action_nowait("Hangup", {"Channel": channel, "Cause": cause})
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(f: asyncio.Future[AmiMessage]) -> None:
            if done.cancelled():
                return
            if f.cancelled():
                done.cancel()
            elif f.exception() is not None:
                done.set_exception(f.exception())  # type: ignore[arg-type]
            elif f.result().get("Response") == "Error":
                done.set_exception(AmiError("Hangup", f.result()))
            else:
                done.set_result(None)

        reply.add_done_callback(settle)
        return done

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        *,
        extra_channel: str | None = None,
        extra_context: str | None = None,
        extra_exten: str | None = None,
        extra_priority: int | None = None,
    ) -> None:
        headers: dict[str, object] = {
            "Channel": channel, "Context": context, "Exten": exten, "Priority": priority,
        }
        if extra_channel is not None:
            headers.update({
                "ExtraChannel": extra_channel,
                "ExtraContext": extra_context or context,
                "ExtraExten": extra_exten or exten,
                "ExtraPriority": extra_priority if extra_priority is not None else priority,
            })
        await self.client.send_action("Redirect", headers)

    async def setvar(self, channel: str, name: str, value: str) -> None:
        await self.client.send_action("Setvar", {"Channel": channel, "Variable": name, "Value": value})

    async def getvar(self, channel: str, name: str) -> str | None:
        reply = await self.client.send_action("Getvar", {"Channel": channel, "Variable": name})
        value = reply.get("Value")
        return None if value in (None, "", "(null)") else value

    async def mixmonitor(self, channel: str, path: str, options: str = "") -> None:
        headers = {"Channel": channel, "File": path}
        if options:
            headers["Options"] = options
        await self.client.send_action("MixMonitor", headers)

    async def stop_mixmonitor(self, channel: str) -> None:
        await self.client.send_action("StopMixMonitor", {"Channel": channel})

    async def core_show_channels(self) -> list[dict[str, str]]:
        """One dict per live channel: the ``CoreShowChannel`` headers, and each channel
        variable of manager.conf ``channelvars`` as a key of its own (``HOTLINE_ATTEMPT_ID``),
        never replacing a header of the same name."""
        _reply, items = await self.client.send_list("CoreShowChannels")
        channels = []
        for item in items:
            headers = dict(item.headers)
            for name, value in item.chanvars().items():
                headers.setdefault(name, value)
            channels.append(headers)
        return channels

    async def device_states(self) -> dict[str, str]:
        """Every device's state (``PJSIP/1001`` -> ``NOT_INUSE``/``UNAVAILABLE``/...)."""
        try:
            _reply, items = await self.client.send_list("DeviceStateList")
        except AmiError:
            return {}
        return {i.get("Device", ""): i.get("State", "") for i in items if i.get("Device")}
