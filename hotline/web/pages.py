"""HTML pages (Jinja2 templates and a little vanilla JavaScript, no build step): login, agent
desk, wallboard, reports and digests. Pages read data through the same services as the API;
their forms post to the JSON API with the session's CSRF token."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from hotline.db.models import Agent, Digest
from hotline.domain.enums import Role
from hotline.domain.errors import InvalidInput
from hotline.reports.agents import agent_figures
from hotline.reports.calls import CallGrouping, call_figures
from hotline.reports.coverage import member_coverage
from hotline.reports.deadlines import complaint_figures, deadline_figures
from hotline.reports.export import total_row
from hotline.reports.period import Period
from hotline.reports.recordings import recording_figures
from hotline.reports.rings import ring_distribution
from hotline.reports.scorecard import agent_scorecard
from hotline.web.auth.gates import DeskPage, StaffPage, SupervisorPage, TeamLeaderPage
from hotline.web.auth.login import attempt_login, set_session_cookie
from hotline.web.auth.principal import Principal
from hotline.web.context import WebContext, web_context

router = APIRouter(include_in_schema=False)
Web = Annotated[WebContext, Depends(web_context)]
LOGIN_CSRF_COOKIE = "hotline_login_csrf"

REPORTS = [
    ("calls", "呼入统计 calls"),
    ("agents", "坐席统计 agents"),
    ("rings", "振铃声数 ring at answer"),
    ("deadlines", "回电回访按时 deadlines"),
    ("complaints", "投诉处理 complaints"),
    ("member-coverage", "会员回访覆盖 member coverage"),
    ("recordings", "录音统计 recordings"),
    ("scorecard", "坐席考核 scorecard"),
]


def _home(principal: Principal) -> str:
    if principal.agent_id is not None and principal.role in (Role.AGENT, Role.TEAM_LEADER):
        return "/desk"
    if principal.role in (Role.SUPERVISOR, Role.ADMIN):
        return "/reports"
    return "/wallboard" if principal.role is Role.TEAM_LEADER else "/desk"


def _safe_next(value: str | None) -> str | None:
    """Only a local path: never redirect a login to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def _page(web: WebContext, request: Request, name: str, principal: Principal | None,
          status_code: int = 200, **context: Any) -> Response:
    return web.templates.TemplateResponse(
        request, name,
        {"principal": principal, "csrf_token": principal.csrf_token if principal else None,
         **context},
        status_code=status_code,
    )


def _login_page(web: WebContext, request: Request, *, next_url: str, error: str | None = None,
                username: str = "", status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = _page(web, request, "login.html", None, status_code, login_csrf=token,
                     next=next_url, error=error, username=username)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=3600, path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, web: Web,
               next: Annotated[str, Query(max_length=512)] = "") -> Response:
    return _login_page(web, request, next_url=_safe_next(next) or "")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    web: Web,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """The login form; guarded against cross-site posting by a double-submit token."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    next_url = _safe_next(next) or ""
    if not cookie or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
        return _login_page(web, request, next_url=next_url, status_code=403,
                           error="登录页面已过期,请重试 The login page expired; please try again.")
    if not username or not password:
        return _login_page(web, request, next_url=next_url, username=username, status_code=422,
                           error="请输入用户名和密码 Enter your username and password.")
    result = attempt_login(web, request, username, password)
    if result.throttled:
        response = _login_page(
            web, request, next_url=next_url, username=username, status_code=429,
            error=f"登录失败次数过多,请 {result.retry_after} 秒后再试 Too many failed logins; "
                  f"try again in {result.retry_after} s.")
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if not result.ok or result.cookie is None:
        return _login_page(web, request, next_url=next_url, username=username, status_code=401,
                           error="用户名或密码错误 Wrong username or password.")
    response = RedirectResponse(next_url or "/", status_code=303)
    set_session_cookie(response, request, result.cookie)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.get("/", response_class=HTMLResponse)
def home(who: StaffPage) -> Response:
    return RedirectResponse(_home(who), status_code=303)


@router.get("/desk", response_class=HTMLResponse)
def desk_page(request: Request, who: DeskPage, web: Web) -> Response:
    with web.sessions() as s:
        agent = s.get(Agent, who.agent_id)
    offset = web.now().astimezone(web.settings.tz).strftime("%z")
    return _page(web, request, "desk.html", who, agent=agent, scripts=web.scripts,
                 tz_offset=f"{offset[:3]}:{offset[3:]}")


@router.get("/wallboard", response_class=HTMLResponse)
def wallboard_page(request: Request, who: TeamLeaderPage, web: Web) -> Response:
    return _page(web, request, "wallboard.html", who)


def cell(value: Any, kind: str) -> str:
    if value is None or value == "":
        return "–" if value is None else ""
    if kind == "percent":
        return f"{float(value) * 100:.1f}%"
    if kind in ("seconds", "float"):
        return f"{float(value):.1f}"
    return str(value)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    who: SupervisorPage,
    web: Web,
    report: Annotated[str, Query(max_length=32)] = "calls",
    start: dt.date | None = None,
    end: dt.date | None = None,
    group: CallGrouping = CallGrouping.DAY,
) -> Response:
    today = web.now().astimezone(web.settings.tz).date()
    if report not in dict(REPORTS):
        report = "calls"
    start = start or today.replace(day=1)
    end = end or today
    context: dict[str, Any] = {
        "reports": REPORTS, "report": report, "start": start, "end": end,
        "groups": [g.value for g in CallGrouping], "group": group.value,
        "table": None, "total": None, "charts": [], "error": None,
    }
    try:
        period = Period.days(start, end, web.settings.tz)
    except InvalidInput as exc:
        context["error"] = str(exc)
        return _page(web, request, "reports.html", who, status_code=422, **context)
    now, ctx = web.now(), web.reports
    builders = {
        "calls": lambda s: call_figures(s, period, ctx, group),
        "agents": lambda s: agent_figures(s, period, ctx),
        "rings": lambda s: ring_distribution(s, period, ctx),
        "deadlines": lambda s: deadline_figures(s, period, now),
        "complaints": lambda s: complaint_figures(s, period, now),
        "member-coverage": lambda s: member_coverage(s, period),
        "recordings": lambda s: recording_figures(s, period),
        "scorecard": lambda s: agent_scorecard(s, period, ctx, now),
    }
    with web.sessions() as s:
        table = builders[report](s)
    query = {"start": start.isoformat(), "end": end.isoformat()}
    base = f"/api/reports/{report}?" + urlencode(
        {**query, **({"group": group.value} if report == "calls" else {})})
    charts = []
    if report == "calls":
        charts = [
            (f"/api/reports/charts/volume.svg?{urlencode(query)}", "呼入量 call volume by hour"),
            (f"/api/reports/charts/service-level.svg?{urlencode(query)}", "服务水平 service level"),
        ]
    elif report == "rings":
        charts = [(f"/api/reports/charts/rings.svg?{urlencode(query)}", "振铃声数 ring at answer")]
    context.update(table=table, total=total_row(table), export_base=base, charts=charts)
    return _page(web, request, "reports.html", who, **context)


@router.get("/digests", response_class=HTMLResponse)
def digests_page(request: Request, who: SupervisorPage, web: Web) -> Response:
    tz = web.settings.tz
    with web.sessions() as s:
        rows = s.scalars(select(Digest).order_by(Digest.day.desc()).limit(60)).all()
        digests = [{"day": d.day, "built_at": d.built_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    "counts": d.content.get("counts", {})} for d in rows]
    return _page(web, request, "digests.html", who, digests=digests,
                 today=web.now().astimezone(tz).date(),
                 digest_at=web.settings.reports.digest_at.strftime("%H:%M"))
