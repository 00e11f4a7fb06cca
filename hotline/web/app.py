"""FastAPI application factory.

The app gets its settings, database engine and live services from the caller (``hotline
serve`` or a test), never from globals, so several apps with different databases can live in
one test process. Every route names a role gate (see :mod:`hotline.web.auth.gates`); only
the login page, the login route, static files and ``/healthz`` are open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, select

from hotline.db.session import session_factory
from hotline.reports.context import ReportContext
from hotline.settings import Settings
from hotline.web.api import (
    auth_routes,
    board_routes,
    crm_routes,
    desk_routes,
    docs_routes,
    escalation_routes,
    recording_routes,
    report_routes,
)
from hotline.web.auth.sessions import make_signer
from hotline.web.context import WebContext
from hotline.web.errors import install_error_handlers
from hotline.web.live import KINDS, LiveFeed
from hotline.web.pages import cell
from hotline.web.pages import router as pages_router
from hotline.web.recordings_page import router as recordings_page_router
from hotline.web.scripts import load_scripts
from hotline.web.services import WebServices
from recordings.service import RecordingService

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent

DESCRIPTION = """\
hotline's web API: the agent desk (caller card, consultation records, cases, complaints,
callbacks, agent state, flags), recordings of flagged calls (list, listen, download: by id,
audited), escalations of extortion calls, supervisor reports (JSON, CSV, XLSX, SVG charts),
the wallboard and the daily complaint digest.

Authenticate with a session (``POST /api/auth/login``; send the returned CSRF token as
``X-CSRF-Token`` on every state-changing request) or with ``Authorization: Bearer <token>``
(tokens are created by an admin at ``POST /api/tokens``). Times are shown in the hotline's zone.
Refusals name the field: ``{"detail": [{"field": ..., "msg": ...}], "message": ...}``.
"""


def create_app(
    settings: Settings, engine: Engine, services: WebServices | None = None
) -> FastAPI:
    services = services or WebServices()
    live = LiveFeed() if services.bus is not None else None
    sessions = session_factory(engine)
    # The running service when hotline runs; else a passive one for playback and stored flags.
    recordings = services.recordings or RecordingService(settings, sessions)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.loop = asyncio.get_running_loop()
        if services.bus is not None and live is not None:
            services.bus.subscribe("web-live", live.handle, kinds=KINDS)
        yield

    app = FastAPI(
        title="hotline",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # The API description is served behind login like everything else (see docs_routes).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["cell"] = cell
    app.state.web = WebContext(
        settings=settings,
        sessions=sessions,
        reports=ReportContext.from_settings(settings),
        services=services,
        signer=make_signer(settings),
        templates=templates,
        live=live,
        scripts=load_scripts(settings.ivr.prompts_file, settings.hours),
        recordings=recordings,
    )
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability, for load balancers (open, says nothing
        about the data)."""
        with app.state.web.sessions() as s:
            s.execute(select(1))
        return {"status": "ok"}

    for module in (auth_routes, crm_routes, desk_routes, report_routes, board_routes,
                   escalation_routes, docs_routes):
        app.include_router(module.router)
    app.include_router(recording_routes.build_router(recordings))
    app.include_router(pages_router)
    app.include_router(recordings_page_router)
    app.mount(docs_routes.ASSETS_URL, StaticFiles(directory=str(docs_routes.ASSETS)),
              name="apidocs")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    return app
