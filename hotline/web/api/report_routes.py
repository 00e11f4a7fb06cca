"""Reports for supervisors: every table as JSON, CSV or XLSX, and SVG charts.

Periods are whole local days, ``start`` to ``end`` inclusive (default: today), in the
hotline's zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from hotline.reports.agents import agent_figures
from hotline.reports.calls import CallGrouping, call_figures
from hotline.reports.charts import bar_chart, line_chart
from hotline.reports.coverage import member_coverage
from hotline.reports.deadlines import complaint_figures, deadline_figures
from hotline.reports.export import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, to_csv, to_xlsx
from hotline.reports.period import Period
from hotline.reports.recordings import recording_figures
from hotline.reports.rings import ring_distribution
from hotline.reports.scorecard import agent_scorecard
from hotline.reports.tables import Table
from hotline.web.api.models import ReportOut
from hotline.web.auth.gates import Supervisor
from hotline.web.context import WebContext, web_context

router = APIRouter(prefix="/api/reports", tags=["reports"])
Web = Annotated[WebContext, Depends(web_context)]


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


class TrendGranularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def report_period(
    web: Web,
    start: Annotated[dt.date | None, Query(description="first local day (default today)")] = None,
    end: Annotated[dt.date | None, Query(description="last local day, included")] = None,
) -> Period:
    today = web.now().astimezone(web.settings.tz).date()
    return Period.days(start or end or today, end or start or today, web.settings.tz)


ReportPeriod = Annotated[Period, Depends(report_period)]
Format = Annotated[ExportFormat, Query(description="json (default), csv or xlsx")]

EXPORTS = {
    200: {
        "description": "the report; CSV or XLSX when asked with format",
        "content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}},
    }
}


def respond(table: Table, period: Period, fmt: ExportFormat, web: WebContext) -> Response | ReportOut:
    if fmt is ExportFormat.JSON:
        data = table.to_dict()
        return ReportOut(start=period.first_day, end=period.last_day,
                         timezone=web.settings.timezone, **data)
    stem = f"{table.name}_{period.first_day}_{period.last_day}"
    if fmt is ExportFormat.CSV:
        return Response(to_csv(table), media_type=CSV_MEDIA_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    return Response(to_xlsx(table), media_type=XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})


def _run(web: WebContext, build: Callable[[Session], Table]) -> Table:
    with web.sessions() as s:
        return build(s)


@router.get("/calls", response_model=ReportOut, responses=EXPORTS)
def calls(
    who: Supervisor, web: Web, period: ReportPeriod, format: Format = ExportFormat.JSON,
    group: CallGrouping = CallGrouping.DAY,
) -> Response | ReportOut:
    """Offered, answered, abandoned, missed, average speed of answer, average handle time,
    ring-at-answer classes and service level, by hour, day, week, month, hour of day,
    category or queue."""
    table = _run(web, lambda s: call_figures(s, period, web.reports, group))
    return respond(table, period, format, web)


@router.get("/agents", response_model=ReportOut, responses=EXPORTS)
def agents(who: Supervisor, web: Web, period: ReportPeriod,
           format: Format = ExportFormat.JSON) -> Response | ReportOut:
    """Per agent: offered, answered, ring-no-answer, speed of answer, handle time, service
    level and the agent's own answers in the window."""
    return respond(_run(web, lambda s: agent_figures(s, period, web.reports)), period, format,
                   web)


@router.get("/rings", response_model=ReportOut, responses=EXPORTS)
def rings(who: Supervisor, web: Web, period: ReportPeriod,
          format: Format = ExportFormat.JSON) -> Response | ReportOut:
    """Ring-at-answer distribution and the shares early, in rings 3 to 5, and late."""
    return respond(_run(web, lambda s: ring_distribution(s, period, web.reports)), period,
                   format, web)


@router.get("/deadlines", response_model=ReportOut, responses=EXPORTS)
def deadlines(who: Supervisor, web: Web, period: ReportPeriod,
              format: Format = ExportFormat.JSON) -> Response | ReportOut:
    """Callbacks, return visits and case replies done inside their deadlines."""
    now = web.now()
    return respond(_run(web, lambda s: deadline_figures(s, period, now)), period, format, web)


@router.get("/complaints", response_model=ReportOut, responses=EXPORTS)
def complaints(who: Supervisor, web: Web, period: ReportPeriod,
               format: Format = ExportFormat.JSON) -> Response | ReportOut:
    """Complaints closed within 2 working days, by severity."""
    now = web.now()
    return respond(_run(web, lambda s: complaint_figures(s, period, now)), period, format, web)


@router.get("/member-coverage", response_model=ReportOut, responses=EXPORTS)
def coverage(who: Supervisor, web: Web, period: ReportPeriod,
             format: Format = ExportFormat.JSON) -> Response | ReportOut:
    """Member return-visit coverage (rule 5.7: 100 %), the unvisited first."""
    return respond(_run(web, lambda s: member_coverage(s, period)), period, format, web)


@router.get("/recordings", response_model=ReportOut, responses=EXPORTS)
def recordings(who: Supervisor, web: Web, period: ReportPeriod,
               format: Format = ExportFormat.JSON) -> Response | ReportOut:
    """Kept recordings by reason and agent."""
    return respond(_run(web, lambda s: recording_figures(s, period)), period, format, web)


@router.get("/scorecard", response_model=ReportOut, responses=EXPORTS)
def scorecard(who: Supervisor, web: Web, period: ReportPeriod,
              format: Format = ExportFormat.JSON) -> Response | ReportOut:
    """The agent scorecard with the weights of rule 7b, for the metrics hotline computes."""
    now = web.now()
    return respond(_run(web, lambda s: agent_scorecard(s, period, web.reports, now)), period,
                   format, web)


SVG = {200: {"description": "an SVG chart", "content": {"image/svg+xml": {}}}}


def _svg(svg: str) -> Response:
    return Response(svg, media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})


@router.get("/charts/volume.svg", response_class=Response, responses=SVG)
def volume_chart(who: Supervisor, web: Web, period: ReportPeriod) -> Response:
    """Inbound calls by hour of the day over the period."""
    table = _run(web, lambda s: call_figures(s, period, web.reports, CallGrouping.HOUR_OF_DAY))
    return _svg(bar_chart(f"呼入量(按时段) call volume by hour, {period.first_day} – "
                          f"{period.last_day}", [r["bucket"] for r in table.rows],
                          [r["offered"] for r in table.rows]))


@router.get("/charts/rings.svg", response_class=Response, responses=SVG)
def rings_chart(who: Supervisor, web: Web, period: ReportPeriod) -> Response:
    """Ring-at-answer histogram; bars in the answer window are green."""
    table = _run(web, lambda s: ring_distribution(s, period, web.reports))
    colors = ["#2a7" if "in window" in r["class"] else "#c93" for r in table.rows]
    return _svg(bar_chart("接听振铃声数 ring at answer", [r["ring"] for r in table.rows],
                          [r["calls"] for r in table.rows], colors=colors))


@router.get("/charts/service-level.svg", response_class=Response, responses=SVG)
def service_level_chart(
    who: Supervisor, web: Web, period: ReportPeriod,
    granularity: TrendGranularity = TrendGranularity.DAY,
) -> Response:
    """Service level (answered in rings 3 to 5 over answered) over time."""
    table = _run(web, lambda s: call_figures(s, period, web.reports,
                                             CallGrouping(granularity.value)))
    return _svg(line_chart("服务水平趋势 service level trend", [r["bucket"] for r in table.rows],
                           [r["service_level"] for r in table.rows]))
