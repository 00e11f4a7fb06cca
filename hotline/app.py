"""Wiring: where the parts of hotline meet, for ``hotline serve``.

Read this file to see how a running hotline is put together; each service is built here and
handed its dependencies explicitly.
"""

from __future__ import annotations

import logging

import uvicorn
from sqlalchemy import Engine

from hotline.settings import Settings
from hotline.web.app import create_app

log = logging.getLogger(__name__)


def serve(settings: Settings, engine: Engine) -> None:
    app = create_app(settings, engine)
    log.info("web pages on http://%s:%d/", settings.web.host, settings.web.port)
    uvicorn.run(app, host=settings.web.host, port=settings.web.port, log_config=None)
