"""The wallboard and the daily complaint and feedback digests."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from sqlalchemy import select

from hotline.accounts.audit import audit
from hotline.db.models import Digest
from hotline.reports.digest import build_digest, digest_tables
from hotline.reports.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, to_csv, to_xlsx
from hotline.reports.period import EARLIEST_DAY
from hotline.reports.wallboard import wallboard
from hotline.web.api.models import DigestOut, DigestSummaryOut, WallboardOut
from hotline.web.api.report_routes import ExportFormat
from hotline.web.auth.gates import Supervisor, TeamLeader
from hotline.web.context import WebContext, web_context

router = APIRouter(prefix="/api")
Web = Annotated[WebContext, Depends(web_context)]


@router.get("/wallboard", response_model=WallboardOut, tags=["wallboard"])
def get_wallboard(who: TeamLeader, web: Web) -> WallboardOut:
    """Calls waiting and the longest wait, agents by state, today's answered, abandoned and
    service level."""
    with web.sessions() as s:
        return WallboardOut(**wallboard(s, web.reports, web.now()))


def _summary(d: Digest, web: WebContext) -> DigestSummaryOut:
    return DigestSummaryOut(day=d.day, built_at=d.built_at.astimezone(web.settings.tz),
                            built_by_id=d.built_by_id, counts=d.content.get("counts", {}))


@router.get("/digests", response_model=list[DigestSummaryOut], tags=["digests"])
def list_digests(who: Supervisor, web: Web,
                 limit: Annotated[int, Query(ge=1, le=366)] = 60) -> list[DigestSummaryOut]:
    """Kept daily digests, newest first."""
    with web.sessions() as s:
        rows = s.scalars(select(Digest).order_by(Digest.day.desc()).limit(limit))
        return [_summary(d, web) for d in rows]


def _check_day(day: dt.date, web: WebContext) -> None:
    today = web.now().astimezone(web.settings.tz).date()
    if not (EARLIEST_DAY <= day <= today):
        raise HTTPException(422, detail=[{"loc": ["path", "day"], "field": "day",
                                          "msg": f"must be a day between {EARLIEST_DAY} and "
                                                 f"today ({today})", "type": "value_error"}])


@router.get("/digests/{day}", response_model=DigestOut, tags=["digests"],
            responses={200: {"content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}}}})
def get_digest(day: dt.date, who: Supervisor, web: Web,
               format: ExportFormat = ExportFormat.JSON) -> Response | DigestOut:
    """One day's digest as JSON, CSV or XLSX."""
    with web.sessions.begin() as s:
        digest = s.scalar(select(Digest).where(Digest.day == day))
        if digest is None:
            raise HTTPException(404, f"no digest was built for {day}")
        audit(s, "digest.download", actor_id=who.user_id, object_type="digest",
              object_id=day.isoformat(), details={"format": format.value}, client=who.client,
              at=web.now())
        if format is ExportFormat.JSON:
            return DigestOut(**_summary(digest, web).model_dump(), content=digest.content)
        tables = digest_tables(digest.content)
    stem = f"digest_{day}"
    if format is ExportFormat.CSV:
        return Response(to_csv(tables), media_type=CSV_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    return Response(to_xlsx(tables), media_type=XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})


@router.post("/digests/{day}/build", response_model=DigestOut, tags=["digests"])
def rebuild_digest(day: dt.date, who: Supervisor, web: Web) -> DigestOut:
    """Build (or rebuild) a day's digest now, e.g. after late entries."""
    _check_day(day, web)
    with web.sessions.begin() as s:
        digest = build_digest(s, day, web.reports, now=web.now(), built_by_id=who.user_id)
        return DigestOut(**_summary(digest, web).model_dump(), content=digest.content)
