"""Alerts: the list, an operator's acknowledge and resolve, the anonymised snapshot.

An acknowledge or resolve is audited with the operator's name (``routes/audit.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from crowdsafe.alerts.engine import AlertNotFound, AlertStateError
from crowdsafe.api.deps import AuthDep, PrincipalDep, Since, SiteDep, StoreDep
from crowdsafe.api.errors import documented
from crowdsafe.api.routes.cameras import NO_STORE
from crowdsafe.api.schemas import AlertPublic
from crowdsafe.auth import AuditAction
from crowdsafe.types import Alert, AlertState

__all__ = ["router"]

router = APIRouter(prefix="/api/alerts")

StateQuery = Annotated[
    Literal["active", "open", "acknowledged", "resolved", "all"],
    Query(description="active = open or acknowledged."),
]


@router.get("", response_model=list[AlertPublic], responses=documented(422))
def alerts(
    store: StoreDep,
    state: StateQuery = "active",
    since: Since = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> list[AlertPublic]:
    """Alerts in ``state`` updated at or after ``since``, most recently updated first."""
    if state == "active":
        states = [AlertState.OPEN, AlertState.ACKNOWLEDGED]
    elif state == "all":
        states = list(AlertState)
    else:
        states = [AlertState(state)]
    return [AlertPublic.model_validate(a.to_dict()) for a in store.alerts(states, since, limit)]


def _transition(action: Callable[[str], Alert], alert_id: str) -> AlertPublic:
    try:
        return AlertPublic.model_validate(action(alert_id).to_dict())
    except AlertNotFound as exc:
        # A KeyError's str() quotes its message; the message itself is args[0].
        raise HTTPException(404, str(exc.args[0]) if exc.args else str(exc)) from None
    except AlertStateError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post(
    "/{alert_id}/acknowledge", response_model=AlertPublic, responses=documented(403, 404, 409)
)
def acknowledge(alert_id: str, site: SiteDep, who: PrincipalDep, auth: AuthDep) -> AlertPublic:
    """An operator has seen the alert; it stays active until resolved."""
    alert = _transition(site.alerts.acknowledge, alert_id)
    auth.record(who, AuditAction.ALERT_ACKNOWLEDGE, alert_id)
    return alert


@router.post("/{alert_id}/resolve", response_model=AlertPublic, responses=documented(403, 404, 409))
def resolve(alert_id: str, site: SiteDep, who: PrincipalDep, auth: AuthDep) -> AlertPublic:
    """The situation is over; a resolved alert cannot change again."""
    alert = _transition(site.alerts.resolve, alert_id)
    auth.record(who, AuditAction.ALERT_RESOLVE, alert_id)
    return alert


@router.get(
    "/{alert_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **documented(404)},
)
def snapshot(alert_id: str, site: SiteDep) -> Response:
    """The anonymised snapshot taken when the alert opened, while it is retained."""
    jpeg = site.snapshot(alert_id)
    if jpeg is None:
        raise HTTPException(404, f"no snapshot for alert '{alert_id}' (none, or expired)")
    return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)
