"""Error answers: every refusal names what was wrong, and nothing becomes a 500.

Validation errors (FastAPI's and the services' :class:`InvalidInput`) answer 422 in one
shape, each problem with its ``field`` (dotted path) and ``msg``::

    {"detail": [{"loc": ["body", "phone"], "field": "phone", "msg": "...", "type": "..."}],
     "message": "phone: ..."}
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError

from hotline.db.errors import explain_integrity_error
from hotline.domain.errors import InvalidInput
from hotline.web.auth.gates import Forbidden, NotAuthenticated

log = logging.getLogger(__name__)


def _problem(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    path = [str(p) for p in loc]
    field_path = path[1:] if path and path[0] in ("body", "query", "path", "header",
                                                  "cookie") else path
    return {"loc": loc, "field": ".".join(field_path) or "body", "msg": msg, "type": kind}


def unprocessable(problems: list[dict[str, Any]]) -> JSONResponse:
    message = "; ".join(f"{p['field']}: {p['msg']}" for p in problems)
    return JSONResponse({"detail": problems, "message": message}, status_code=422)


@contextmanager
def not_found_as_404() -> Iterator[None]:
    """A service's LookupError ("case #5 does not exist") answers 404 with its message."""
    try:
        yield
    except LookupError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(_problem(list(err.get("loc", [])), msg, str(err.get("type", ""))))
        return unprocessable(problems)

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput) -> Response:
        return unprocessable([_problem(f.split("."), r, "invalid_input")
                              for f, r in exc.problems])

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        v = explain_integrity_error(exc)
        log.warning("integrity error reached the web layer: %s", v)
        return unprocessable([_problem(["body", v.field or v.table or "record"], v.reason,
                                       "constraint")])

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> Response:
        # Input validation should have refused it first; answer as the client's error.
        log.warning("database refused a value: %s", str(exc.orig).splitlines()[0])
        return unprocessable([_problem(["body"], "a value is out of range for the database",
                                       "data_error")])

    @app.exception_handler(NotAuthenticated)
    async def _anonymous(request: Request, exc: NotAuthenticated) -> Response:
        if exc.page:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return JSONResponse(
            {"detail": "login required: send a session cookie or an Authorization: Bearer "
                       "token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if exc.page:
            web = request.app.state.web
            return web.templates.TemplateResponse(
                request, "forbidden.html", {"detail": exc.detail, "principal": None},
                status_code=403,
            )
        return JSONResponse({"detail": exc.detail}, status_code=403)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse("<h1>500</h1><p>内部错误 internal error</p>", status_code=500)
        return JSONResponse({"detail": "internal error (logged)"}, status_code=500)
