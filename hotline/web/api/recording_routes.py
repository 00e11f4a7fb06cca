"""The recordings part's HTTP routes (``recordings.http``), mounted behind the web app's own
authentication: a session (with its CSRF token on the flag request) or a bearer token.

The gate admits every staff role; which recording or call a user may reach is decided by
recordings itself (:class:`recordings.access.Actor`): supervisors and admins every recording,
an agent only those of their own calls, and flags on their own current call.
"""

from __future__ import annotations

from fastapi import APIRouter

from hotline.web.auth.gates import Staff
from recordings.access import Actor
from recordings.http import create_router
from recordings.service import RecordingService


def recording_actor(who: Staff) -> Actor:
    """The signed-in user as recordings sees them; the role was read from the database for
    this very request, so it is never stale."""
    return Actor(user_id=who.user_id, role=who.role, agent_id=who.agent_id, client=who.client)


def build_router(service: RecordingService) -> APIRouter:
    return create_router(service, recording_actor)
