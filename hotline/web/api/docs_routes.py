"""The OpenAPI description and its browsable page, for logged-in staff only: the route list
of a hotline tells an outsider more than it should.

Swagger UI's script and style come from this server (the files the ``fastapi-offline``
package ships), never from a CDN: a hotline's network may not reach the internet, and staff
browsers should not tell a third party which pages they open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from hotline.web.auth.gates import Staff, StaffPage

router = APIRouter(include_in_schema=False)
# Mounted by the app at ASSETS_URL (public files: Swagger UI itself, no data).
ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/static/apidocs"


@router.get("/api/openapi.json")
def openapi(request: Request, who: Staff) -> dict[str, Any]:
    return request.app.openapi()  # type: ignore[no-any-return]


@router.get("/api/docs", response_class=HTMLResponse)
def docs(who: StaffPage) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/api/openapi.json",
        title="hotline API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
    )
