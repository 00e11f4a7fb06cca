"""What hotline asks Asterisk to do on a flag, as AMI actions that work on Asterisk 22.

Asterisk has no AMI action that plays a sound into a running bridge, so the caller is taken
out of it: one Redirect moves the caller to ``[hotline-warning]`` and, as ExtraChannel, the
agent to a waiting extension (a dual redirect, so Dial does not hang the agent up). The caller
hears the prompt and the dialplan bridges the two again with ``Bridge()``. Channel variables,
set first with Setvar, tell the dialplan what to play and whom to rejoin. The dialplan is in
deploy/asterisk/extensions.conf and the whole exchange in docs/design.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from hotline.domain.ports import PbxActions

PROMPT_VAR = "HOTLINE_PROMPT"
AGENT_VAR = "HOTLINE_AGENT_CHANNEL"
DISPOSITION_VAR = "HOTLINE_DISPOSITION"


def prompt_path(sounds_dir: Path, language: str, name: str) -> str:
    """What ``Playback(${HOTLINE_PROMPT})`` gets: an absolute path without extension, as the
    IVR plays its prompts, so the prompts `hotline prompts build` rendered are the ones the
    caller hears. A name is a prompt of the IVR's catalogue, in ``language``; an absolute
    path is taken as it is."""
    if name.startswith("/"):
        return name
    return str(sounds_dir.resolve() / language / name)


async def send_in_order(actions: list[Coroutine[Any, Any, None]], timeout: float) -> None:
    """Send the actions back to back, without waiting for each reply before the next.

    Asterisk runs the actions of one manager session one after the other, in the order they
    arrive, so the Setvars are done before the Redirect reads the variables; waiting for each
    reply first would only add a round trip per action before the caller hears anything. Each
    action is started as a task in list order, and the AMI client writes an action to the
    socket before its first await, so they go out in this order. The replies are awaited; the
    first failure is raised (every action was already sent by then)."""
    tasks = [asyncio.ensure_future(action) for action in actions]
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def play_then_rejoin(
    pbx: PbxActions, *, context: str, exten: str, caller: str, agent: str, prompt: str,
    timeout: float,
) -> None:
    """The caller hears ``prompt`` (the agent hears it too), then both talk again."""
    await send_in_order([
        pbx.setvar(caller, AGENT_VAR, agent),
        pbx.setvar(caller, PROMPT_VAR, prompt),
        pbx.setvar(agent, PROMPT_VAR, prompt),
        pbx.redirect(
            caller, context, exten, 1,
            extra_channel=agent, extra_context=context, extra_exten="agent-wait",
            extra_priority=1,
        ),
    ], timeout)


async def play_then_end(
    pbx: PbxActions, *, context: str, caller: str, agent: str | None, prompt: str,
    disposition: str, timeout: float,
) -> None:
    """The call ends: the caller hears ``prompt`` and is hung up, the agent is released at
    once, and the bridge reads the disposition from the channel variable."""
    if agent:
        redirect = pbx.redirect(
            caller, context, "close", 1,
            extra_channel=agent, extra_context=context, extra_exten="agent-end",
            extra_priority=1,
        )
    else:
        redirect = pbx.redirect(caller, context, "close", 1)
    await send_in_order([
        pbx.setvar(caller, DISPOSITION_VAR, disposition),
        pbx.setvar(caller, PROMPT_VAR, prompt),
        redirect,
    ], timeout)
