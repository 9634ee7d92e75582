"""``/api/docs``: Swagger UI served from the installed packages, never from a CDN.

A control room's network is often closed, and a script from a CDN would run with the
same origin as the alert actions.  The Swagger UI files are those bundled by the
``fastapi-offline`` package (MIT; Swagger UI itself is Apache-2.0); the page and its
start-up script are ours (``web/api-docs.*``), so no inline script is needed and the
page obeys the Content-Security-Policy of :mod:`crowdsafe.api.security`.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import FileResponse

__all__ = ["router"]

router = APIRouter(prefix="/api/docs", include_in_schema=False)

# The bundle is 1.5 MB and changes only with the installed package: let browsers keep it.
_CACHE = {"Cache-Control": "public, max-age=86400"}


def _swagger_file(name: str) -> str:
    return str(resources.files("fastapi_offline") / "static" / name)


def _web_file(name: str) -> str:
    return str(resources.files("crowdsafe") / "web" / name)


@router.get("")
def docs_page() -> FileResponse:
    return FileResponse(_web_file("api-docs.html"), headers={"Cache-Control": "no-cache"})


@router.get("/api-docs.js")
def docs_js() -> FileResponse:
    return FileResponse(_web_file("api-docs.js"), media_type="text/javascript")


@router.get("/swagger-ui-bundle.js")
def swagger_js() -> FileResponse:
    return FileResponse(
        _swagger_file("swagger-ui-bundle.js"), media_type="text/javascript", headers=_CACHE
    )


@router.get("/swagger-ui.css")
def swagger_css() -> FileResponse:
    return FileResponse(_swagger_file("swagger-ui.css"), media_type="text/css", headers=_CACHE)
