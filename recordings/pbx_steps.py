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
from pathlib import Path

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


async def play_then_rejoin(
    pbx: PbxActions, *, context: str, exten: str, caller: str, agent: str, prompt: str,
    timeout: float,
) -> None:
    """The caller hears ``prompt`` (the agent hears it too), then both talk again."""
    async with asyncio.timeout(timeout):
        await pbx.setvar(caller, AGENT_VAR, agent)
        await pbx.setvar(caller, PROMPT_VAR, prompt)
        await pbx.setvar(agent, PROMPT_VAR, prompt)
        await pbx.redirect(
            caller, context, exten, 1,
            extra_channel=agent, extra_context=context, extra_exten="agent-wait",
            extra_priority=1,
        )


async def play_then_end(
    pbx: PbxActions, *, context: str, caller: str, agent: str | None, prompt: str,
    disposition: str, timeout: float,
) -> None:
    """The call ends: the caller hears ``prompt`` and is hung up, the agent is released at
    once, and the bridge reads the disposition from the channel variable."""
    async with asyncio.timeout(timeout):
        await pbx.setvar(caller, DISPOSITION_VAR, disposition)
        await pbx.setvar(caller, PROMPT_VAR, prompt)
        if agent:
            await pbx.redirect(
                caller, context, "close", 1,
                extra_channel=agent, extra_context=context, extra_exten="agent-end",
                extra_priority=1,
            )
        else:
            await pbx.redirect(caller, context, "close", 1)
