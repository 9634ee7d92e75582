"""The dashboard's page and assets, served from the package."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import FileResponse

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _web_file(name: str) -> str:
    return str(resources.files("crowdsafe") / "web" / name)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(_web_file("index.html"), headers={"Cache-Control": "no-cache"})


@router.get("/dashboard.js")
def dashboard_js() -> FileResponse:
    return FileResponse(_web_file("dashboard.js"), media_type="text/javascript")


@router.get("/dashboard.css")
def dashboard_css() -> FileResponse:
    return FileResponse(_web_file("dashboard.css"), media_type="text/css")
