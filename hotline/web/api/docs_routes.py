"""The OpenAPI description and its browsable page, for logged-in staff only: the route list
of a hotline tells an outsider more than it should."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from hotline.web.auth.gates import Staff, StaffPage

router = APIRouter(include_in_schema=False)


@router.get("/api/openapi.json")
def openapi(request: Request, who: Staff) -> dict[str, Any]:
    return request.app.openapi()  # type: ignore[no-any-return]


@router.get("/api/docs", response_class=HTMLResponse)
def docs(who: StaffPage) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/api/openapi.json", title="hotline API")
