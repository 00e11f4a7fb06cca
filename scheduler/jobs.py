"""The functions APScheduler's job store refers to (``scheduler.jobs:tick`` ...).

Jobs are pickled into the database by reference and argument, so they cannot carry the running
scheduler; they name it, and the running :class:`~scheduler.service.OutboundScheduler`
registers itself under that name while it leads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from scheduler.service import OutboundScheduler

_running: dict[str, OutboundScheduler] = {}


def register(name: str, service: OutboundScheduler) -> None:
    _running[name] = service


def unregister(name: str, service: OutboundScheduler) -> None:
    if _running.get(name) is service:
        del _running[name]


async def tick(name: str) -> None:
    """Planning tick: the sweeping rules, housekeeping, then wake the dialler."""
    service = _running.get(name)
    if service is not None:
        await service.tick()


async def daily(name: str) -> None:
    """Once a day: birthday and festival greetings."""
    service = _running.get(name)
    if service is not None:
        await service.run_daily()


async def half_monthly(name: str) -> None:
    """The 1st and the 16th: top customers of each department and key accounts."""
    service = _running.get(name)
    if service is not None:
        await service.run_half_monthly()
