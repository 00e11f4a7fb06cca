"""HTTP routes of recordings: list, metadata, stream (MP3/Opus), download (WAV), flag.

``create_router(service, current_user)`` is mounted by the web app, which supplies its own
``current_user`` dependency (returning an :class:`~recordings.access.Actor` or a user row);
tests supply a simple one. Recordings are addressed by integer id only: no path from a request
ever reaches the file system, and ``../`` or ``/etc/passwd`` in any parameter is a 422 or 404.
Every refusal is a 4xx with a message; nothing here answers 500.
"""

import datetime as dt
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.exc import DBAPIError

from hotline.domain.enums import RecordingReason
from hotline.domain.errors import InvalidInput
from recordings.access import Actor, as_actor
from recordings.errors import RecordingsError
from recordings.flags import FlagRequest
from recordings.playback import Playback, ServedFile
from recordings.service import RecordingService
from recordings.transcode import PlaybackFormat, TranscodeError

FLAG_BODY = (
    "call_key (\"pbx1:1700000000.12\") or call_id, or neither for your current call; "
    "reason: abusive | extortion | other; reason_text (required for other); blacklist: bool. "
    f"{FlagRequest.__doc__}"
)
log = logging.getLogger(__name__)
RecordingId = Annotated[int, Path(ge=1, le=2**53, description="Recording id")]


def _refused(exc: Exception) -> HTTPException:
    if isinstance(exc, InvalidInput):
        return HTTPException(422, [{"field": f, "reason": r} for f, r in exc.problems])
    if isinstance(exc, RecordingsError):
        return HTTPException(exc.status, str(exc))
    if isinstance(exc, TranscodeError):
        return HTTPException(503, "the playable copy could not be made; download the WAV")
    if isinstance(exc, DBAPIError):
        log.error("recordings request failed on the database: %s", exc)
        return HTTPException(503, "the database did not answer; try again in a moment")
    raise exc


def _file(served: ServedFile, disposition: str) -> FileResponse:
    return FileResponse(served.path, media_type=served.media_type, filename=served.filename,
                        content_disposition_type=disposition)


def create_router(service: RecordingService, current_user: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/api/recordings", tags=["recordings"])
    playback = Playback(service.sessions, service.store, service.cache, service.settings.tz)

    def actor(request: Request, who: Annotated[Any, Depends(current_user)]) -> Actor:
        client = request.client.host if request.client else None
        with service.sessions() as session:
            found = as_actor(session, who, client)
        if found is None:
            raise HTTPException(401, "sign in first")
        return found

    Me = Annotated[Actor, Depends(actor)]

    @router.get("", summary="Kept recordings, newest first")
    def list_recordings(
        me: Me,
        reason: RecordingReason | None = None,
        agent_id: Annotated[int | None, Query(ge=1)] = None,
        date_from: Annotated[dt.date | None, Query(description="local day, inclusive")] = None,
        date_to: Annotated[dt.date | None, Query(description="local day, inclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[dict[str, Any]]:
        if date_from and date_to and date_to < date_from:
            raise HTTPException(422, [{"field": "date_to", "reason": "is before date_from"}])
        return playback.list(me, reason=reason, agent_id=agent_id, date_from=date_from,
                             date_to=date_to, limit=limit, offset=offset)

    @router.get("/{recording_id}", summary="One recording's metadata")
    def get_recording(recording_id: RecordingId, me: Me) -> dict[str, Any]:
        try:
            return playback.metadata(me, recording_id)
        except Exception as exc:
            raise _refused(exc) from None

    @router.get("/{recording_id}/stream", summary="Listen: MP3 or Opus, made on demand")
    def stream(
        recording_id: RecordingId, me: Me, format: PlaybackFormat = PlaybackFormat.MP3
    ) -> FileResponse:
        try:
            return _file(playback.listen(me, recording_id, format), "inline")
        except Exception as exc:
            raise _refused(exc) from None

    @router.get("/{recording_id}/download", summary="The original WAV")
    def download(recording_id: RecordingId, me: Me) -> FileResponse:
        try:
            return _file(playback.download(me, recording_id), "attachment")
        except Exception as exc:
            raise _refused(exc) from None

    @router.post("/flags", summary="Flag a call: abusive, extortion, or other with a reason")
    async def flag_call(me: Me, body: Annotated[dict[str, Any], Body(description=FLAG_BODY)]) -> JSONResponse:
        try:
            result = await service.flag(me, body)
        except Exception as exc:
            raise _refused(exc) from None
        return JSONResponse({
            "flag_id": result.flag_id, "call_key": result.call_key,
            "reason": result.reason.value, "step": result.step,
            "escalation_id": result.escalation_id, "blacklisted": result.blacklisted,
            "recording_id": result.recording_id, "pbx_error": result.pbx_error,
        })

    return router
