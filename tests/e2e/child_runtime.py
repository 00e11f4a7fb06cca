"""A hotline Runtime (bridge, IVR, recordings, scheduler: what ``hotline serve`` runs, without
the web pages) in a process of its own, for the crash tests: ``tests.e2e.stack.child_runtime``
starts it and kills it with SIGKILL.

    python -m tests.e2e.child_runtime <spec.json>

The spec gives the settings (as ``tests.e2e.stack.stack_settings`` builds them), the agents
to log in and ``hold_originates``: the scheduler's Originates are then held inside this
process (the attempt is already committed; nothing reaches the PBX) and announced on stdout
as ``HELD attempt-<id>``, so that the parent can kill it between writing an attempt and
sending it. Other lines on stdout: ``READY`` (linked, agents ready), ``LEADING`` (this
scheduler won the election). Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hotline.app import Runtime
from hotline.db.session import make_engine
from tests.e2e.stack import stack_settings


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def hold_originates(runtime: Runtime) -> None:
    async def held(**kwargs: Any) -> Any:
        say(f"HELD {kwargs['action_id']}")
        await asyncio.Event().wait()  # until the process is killed

    runtime.bridge.actions.originate = held  # type: ignore[method-assign]


async def main(spec: dict[str, Any]) -> None:
    settings = stack_settings(
        Path(spec["tmp"]), spec["db_url"], ami_port=spec["ami_port"], agi_port=spec["agi_port"],
        sounds=Path(spec["sounds"]), speed=spec["speed"], **spec["overrides"],
    )
    runtime = Runtime.build(settings, make_engine(spec["db_url"]), scheduler=True)
    if spec["hold_originates"]:
        hold_originates(runtime)
    await runtime.start()
    await runtime.bridge.client.wait_connected(10.0)  # type: ignore[attr-defined]
    for agent_id in spec["agents"].values():
        await runtime.bridge.log_in(agent_id)
        await runtime.bridge.set_ready(agent_id)
    say("READY")
    assert runtime.scheduler is not None
    await runtime.scheduler.leading.wait()
    say("LEADING")
    await asyncio.Event().wait()  # until the process is killed


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
