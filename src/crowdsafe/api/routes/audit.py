"""The audit trail: who logged in (or failed to), who acknowledged or resolved which
alert, and user and token changes.  Operators' names only (PRIVACY.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from crowdsafe.api.auth_schemas import AuditEntryPublic
from crowdsafe.api.deps import AuthDep, StoreDep
from crowdsafe.api.errors import documented
from crowdsafe.auth import AuditAction, AuditEntry

__all__ = ["router"]

router = APIRouter()

_ALERT_ACTIONS = (AuditAction.ALERT_ACKNOWLEDGE, AuditAction.ALERT_RESOLVE)


def _public(entries: list[AuditEntry]) -> list[AuditEntryPublic]:
    return [
        AuditEntryPublic(id=e.id, t=e.t, actor=e.actor, action=e.action, target=e.target)
        for e in entries
    ]


@router.get("/api/audit", response_model=list[AuditEntryPublic], responses=documented(422))
def audit(
    auth: AuthDep,
    since: Annotated[float | None, Query(description="Unix seconds, inclusive.")] = None,
    action: Annotated[AuditAction | None, Query(description="Only this action.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AuditEntryPublic]:
    """The whole audit trail, newest first (admin only)."""
    actions = None if action is None else [action]
    return _public(auth.store.audit(since=since, actions=actions, limit=limit))


@router.get(
    "/api/alerts/{alert_id}/audit",
    response_model=list[AuditEntryPublic],
    responses=documented(404),
)
def alert_audit(alert_id: str, auth: AuthDep, store: StoreDep) -> list[AuditEntryPublic]:
    """Who acknowledged and resolved the alert, and when, newest first."""
    if store.get_alert(alert_id) is None:
        raise HTTPException(404, f"no alert has id '{alert_id}'")
    return _public(auth.store.audit(target=alert_id, actions=_ALERT_ACTIONS))
