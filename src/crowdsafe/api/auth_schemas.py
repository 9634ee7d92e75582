"""Request and response schemas of logging in and of the audit trail.

An audit entry names an operator (a user name or ``token:<label>``), an action and the
alert, user or token it was about: nothing about anyone the cameras see.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from crowdsafe.auth import AuditAction, AuthVia, Role

__all__ = ["AuditEntryPublic", "LoginRequest", "SessionPublic"]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=64, description="The operator's user name.")
    password: str = Field(min_length=1, max_length=1024, description="Their password.")


class SessionPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(description="User name, or token:<label> for an API token.")
    role: Role = Field(description="viewer, operator or admin.")
    via: AuthVia = Field(description="session, token, proxy or open (no authentication).")
    csrf_token: str | None = Field(
        description="Send as X-CSRF-Token on POST and DELETE (None: not needed)."
    )


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1)
    t: float = Field(description="When, Unix seconds.")
    actor: str = Field(description="The operator's user name, or token:<label>.")
    action: AuditAction
    target: str | None = Field(description="The alert id, user name or token label.")
