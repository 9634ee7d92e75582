"""One error body for every failure the API answers, and the statuses each route documents.

Every error, whether raised by a route, by request validation or by an unknown path,
is ``{"detail": "<what is wrong, naming the value and what would be valid>"}``, so a
client needs one parser.  Validation errors name the parameter (``query.limit: ...``).
Unexpected failures answer 500 with a fixed text: an exception's message can hold a
path or a secret, and it goes to the log, not to the client.

:func:`documented` builds a route's ``responses=`` from the statuses it really returns,
and :func:`install` makes the OpenAPI document list exactly those (FastAPI would add a
422 to every route with a parameter, even a path parameter no request can get wrong).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from crowdsafe.errors import StoreError

__all__ = ["RETRY_AFTER_S", "ErrorBody", "documented", "install", "not_found", "unavailable"]

log = logging.getLogger(__name__)

_MEANINGS = {
    403: "Refused: switched off by the site's privacy settings, or sent from another site.",
    404: "No such item; the message lists the known ones.",
    409: "The item is not in a state that allows this (or has too little history).",
    422: "A parameter is malformed or out of range; the message names it.",
    429: "Too many such requests at once; retry after the Retry-After header's seconds.",
    503: "Not available yet (e.g. no analysed frame, or the image was not ready in time).",
}


class ErrorBody(BaseModel):
    """The body of every error answer."""

    detail: str = Field(description="What is wrong, naming the value and what is valid.")


# A 503 is "not yet": it says when to ask again, so a client need not guess a back-off.
RETRY_AFTER_S = 1
_HEADERS: dict[int, dict[str, Any]] = {
    503: {
        "Retry-After": {
            "description": "Seconds to wait before asking again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers ``statuses`` besides success."""
    out: dict[int | str, dict[str, Any]] = {}
    for s in statuses:
        out[s] = {"model": ErrorBody, "description": _MEANINGS[s]}
        if s in _HEADERS:
            out[s]["headers"] = _HEADERS[s]
    return out


def unavailable(detail: str) -> StarletteHTTPException:
    """A 503 (not available yet) with the ``Retry-After`` its documentation promises."""
    return StarletteHTTPException(503, detail, headers={"Retry-After": str(RETRY_AFTER_S)})


def not_found(kind: str, item_id: str, known: list[str]) -> StarletteHTTPException:
    """A 404 naming the unknown id and the known ones."""
    names = ", ".join(sorted(known)) or "none"
    return StarletteHTTPException(404, f"unknown {kind} '{item_id}'; known {kind}s: {names}")


def _validation_text(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


# FastAPI's text when a request body cannot be parsed (not JSON, not UTF-8).
_BODY_UNPARSED = "There was an error parsing the body"


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route of ``app`` answers at the request's path."""
    methods: set[str] = set()
    for route in app.routes:
        # FULL or PARTIAL (the path matches, the method does not): the path is answered.
        if isinstance(route, BaseRoute) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _trim_openapi(app: FastAPI) -> None:
    """Make each operation list only its documented statuses (plus its success)."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = make()
        for route in app.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            keep = {str(s) for s in route.responses} | {str(route.status_code or 200)}
            for method in route.methods or ():
                op = schema["paths"][route.path_format].get(method.lower())
                if op is not None:
                    op["responses"] = {k: v for k, v in op["responses"].items() if k in keep}
        schemas = schema.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Answer every error with :class:`ErrorBody` and keep the OpenAPI document true."""

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names only the first route of the path
            headers = {"Allow": ", ".join(_allowed_methods(app, request))}
        elif exc.status_code == 400 and exc.detail == _BODY_UNPARSED:
            # FastAPI's own answer to a body that is not JSON at all; every other
            # malformed request is a 422 that names what is wrong, and so is this.
            return JSONResponse({"detail": "body: not valid JSON"}, status_code=422)
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": _validation_text(exc)}, status_code=422)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)

    async def store_down(request: Request, exc: Exception) -> JSONResponse:
        # The database is down or unreachable (the write queue keeps the pipeline's
        # rows meanwhile): "not now" with when to retry, not a 500.  The message names
        # the server at most (never a password), but it goes to the log, not the client.
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the database cannot be reached now; retry shortly"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StoreError, store_down)
    app.add_exception_handler(Exception, unexpected)
    _trim_openapi(app)
