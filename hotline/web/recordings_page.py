"""The recordings page: kept recordings of flagged calls with filters, an in-browser player
and the download of the original WAV.

The list comes from recordings' own :class:`~recordings.playback.Playback` with the viewer's
rights (supervisors and admins all, an agent their own calls); the player and the download
link go to the recordings routes by id, where every listen and download is audited. The page
loads no audio until the user presses play (``preload="none"``), so opening it is not a
listen."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BeforeValidator, Field

from hotline.domain.enums import RecordingReason
from hotline.reports.agents import agent_names
from hotline.web.api.recording_routes import recording_actor
from hotline.web.auth.gates import StaffPage
from hotline.web.context import WebContext, web_context
from recordings.access import LISTEN_ANY
from recordings.playback import Playback

router = APIRouter(include_in_schema=False)
Web = Annotated[WebContext, Depends(web_context)]
REASONS = [
    ("extortion", "敲诈勒索 extortion"),
    ("abusive", "辱骂 abusive"),
    ("other", "其他 other"),
    ("blacklist", "黑名单 blacklist"),
]
PAGE_SIZE = 100
# A filter form sends "" for "all": that is no filter, not a bad value.
Blank = BeforeValidator(lambda v: None if v == "" else v)


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


@router.get("/recordings", response_class=HTMLResponse)
def recordings_page(
    request: Request,
    who: StaffPage,
    web: Web,
    reason: Annotated[RecordingReason | None, Blank] = None,
    agent_id: Annotated[Annotated[int, Field(ge=1, le=2_147_483_647)] | None, Blank] = None,
    date_from: Annotated[dt.date | None, Blank] = None,
    date_to: Annotated[dt.date | None, Blank] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    assert web.recordings is not None
    actor = recording_actor(who)
    recs = web.recordings
    playback = Playback(recs.sessions, recs.store, recs.cache, web.settings.tz)
    error = None
    rows: list[dict[str, Any]] = []
    if date_from and date_to and date_to < date_from:
        error = "到 To 早于 从 From: date_to is before date_from"
    else:
        rows = playback.list(actor, reason=reason, agent_id=agent_id, date_from=date_from,
                             date_to=date_to, limit=PAGE_SIZE, offset=offset)
    with web.sessions() as s:
        names = agent_names(s)
    for row in rows:
        name, ext = names.get(row["agent_id"], ("", "")) if row["agent_id"] else ("", "")
        row["agent"] = f"{name} ({ext})" if name else "–"
        row["when"] = (row["call_arrived_local"] or "")[:16].replace("T", " ")
        row["length"] = _minutes(row["duration_seconds"])
    return web.templates.TemplateResponse(request, "recordings.html", {
        "principal": who, "csrf_token": who.csrf_token, "rows": rows, "reasons": REASONS,
        "reason": reason.value if reason else "", "agent_id": agent_id,
        "date_from": date_from or "", "date_to": date_to or "", "error": error,
        "agents": sorted(names.items(), key=lambda kv: kv[1][1]),
        "sees_all": who.role in LISTEN_ANY, "offset": offset, "page_size": PAGE_SIZE,
    }, status_code=422 if error else 200)
