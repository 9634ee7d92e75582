"""Logging in and out: the login page, ``/api/session`` (POST logs in, GET says who one
is and gives the CSRF token, DELETE logs out).

The login page and the login call are the only routes besides ``/healthz`` that need no
login.  A login is limited per user name and per client address (429 with
``Retry-After``); every success and failure goes to the audit trail.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse

from crowdsafe.api.auth import client_address, set_session_cookie
from crowdsafe.api.auth_schemas import LoginRequest, SessionPublic
from crowdsafe.api.deps import AuthDep, PrincipalDep
from crowdsafe.api.errors import ErrorBody
from crowdsafe.auth import SESSION_COOKIE, Authenticator, Principal
from crowdsafe.errors import AuthError, LoginThrottled

__all__ = ["router"]

router = APIRouter()


def _web_file(name: str) -> str:
    return str(resources.files("crowdsafe") / "web" / name)


@router.get("/login", include_in_schema=False)
def login_page() -> FileResponse:
    return FileResponse(_web_file("login.html"), headers={"Cache-Control": "no-cache"})


@router.get("/login.js", include_in_schema=False)
def login_js() -> FileResponse:
    return FileResponse(_web_file("login.js"), media_type="text/javascript")


def _public(auth: Authenticator, who: Principal) -> SessionPublic:
    return SessionPublic(user=who.name, role=who.role, via=who.via, csrf_token=auth.csrf_token(who))


@router.post(
    "/api/session",
    response_model=SessionPublic,
    responses={
        401: {"model": ErrorBody, "description": "Wrong user name or password."},
        422: {"model": ErrorBody, "description": "The body is not {user, password}."},
        429: {
            "model": ErrorBody,
            "description": "Too many attempts for the user or from the address.",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    },
)
def login(body: LoginRequest, request: Request, response: Response, auth: AuthDep) -> SessionPublic:
    """Log in with a user name and password: sets the session cookie."""
    try:
        who, cookie = auth.login(body.user, body.password, client_address(request, auth))
    except LoginThrottled as exc:
        raise HTTPException(
            429, str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
    except AuthError as exc:  # a wrong name or password (LoginThrottled is caught above)
        raise HTTPException(401, str(exc)) from None
    set_session_cookie(response, cookie, request, auth)
    return _public(auth, who)


@router.get("/api/session", response_model=SessionPublic)
def session(who: PrincipalDep, auth: AuthDep) -> SessionPublic:
    """Who this request acts as, and the CSRF token its browser must send."""
    return _public(auth, who)


@router.delete("/api/session", status_code=204, response_class=Response)
def logout(who: PrincipalDep, auth: AuthDep) -> Response:
    """Log out: ends the session on the server and clears the cookie."""
    auth.logout(who)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
