"""FastAPI application factory.

The app gets its settings and database engine from the caller (``hotline serve`` or a test),
never from globals, so several apps with different databases can live in one test process.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, func, select

from hotline.db.models import Call, User
from hotline.db.session import session_factory
from hotline.settings import Settings


def create_app(settings: Settings, engine: Engine) -> FastAPI:
    app = FastAPI(title="hotline", version="0.1.0")
    sessions = session_factory(engine)
    app.state.settings = settings
    app.state.sessions = sessions

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability, for load balancers and the demo script."""
        with sessions() as s:
            s.execute(select(1))
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        with sessions() as s:
            calls = s.scalar(select(func.count()).select_from(Call)) or 0
            users = s.scalar(select(func.count()).select_from(User)) or 0
        return (
            "<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>hotline</title>"
            "<h1>hotline 热线</h1>"
            f"<p>{calls} calls stored, {users} users.</p></html>"
        )

    return app
