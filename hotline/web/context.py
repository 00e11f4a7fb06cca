"""The app's own state, reached by every route through ``request.app.state.web``: no globals,
so several apps with different databases can live in one process (the tests do)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.templating import Jinja2Templates
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session, sessionmaker

from hotline.domain.calendar import WorkingCalendar
from hotline.reports.context import ReportContext
from hotline.settings import Settings
from hotline.web.services import WebServices

if TYPE_CHECKING:
    from hotline.web.live import LiveFeed
    from hotline.web.scripts import Script
    from recordings.service import RecordingService


@dataclass
class WebContext:
    settings: Settings
    sessions: sessionmaker[Session]
    reports: ReportContext
    services: WebServices
    signer: URLSafeTimedSerializer
    templates: Jinja2Templates
    live: LiveFeed | None
    scripts: tuple[Script, ...] = ()
    recordings: RecordingService | None = None

    def now(self) -> dt.datetime:
        return self.services.clock()

    @property
    def calendar(self) -> WorkingCalendar:
        return self.reports.calendar

    @property
    def region(self) -> str:
        return self.settings.default_region


def web_context(request: Request) -> WebContext:
    return request.app.state.web  # type: ignore[no-any-return]
