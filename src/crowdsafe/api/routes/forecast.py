"""Forecasts: a zone's planning forecast and nowcast, the staffing plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from crowdsafe.api.deps import HoursQuery, SiteDep
from crowdsafe.api.errors import documented
from crowdsafe.api.forecast_schemas import NowcastPublic, PlanningPublic, StaffingPublic
from crowdsafe.forecast.service import InsufficientHistory, UnknownZone

__all__ = ["router"]

router = APIRouter()

T = TypeVar("T")


def _answer(fn: Callable[[], T]) -> T:
    """Run a forecast request, turning its errors into HTTP answers."""
    try:
        return fn()
    except UnknownZone as exc:
        raise HTTPException(404, str(exc)) from None
    except InsufficientHistory as exc:
        raise HTTPException(409, str(exc)) from None


@router.get(
    "/api/zones/{zone_id}/forecast",
    response_model=PlanningPublic,
    responses=documented(404, 409, 422),
)
def zone_forecast(zone_id: str, site: SiteDep, hours: HoursQuery = None) -> PlanningPublic:
    """Planning forecast of the zone's hourly count, with 80 % and 95 % intervals."""
    forecast = _answer(lambda: site.forecast.planning(zone_id, hours))
    return PlanningPublic.model_validate(forecast.to_dict())


@router.get(
    "/api/zones/{zone_id}/nowcast",
    response_model=NowcastPublic,
    response_model_exclude_unset=True,
    responses=documented(404, 409),
)
def zone_nowcast(zone_id: str, site: SiteDep) -> NowcastPublic:
    """The zone's count and density 5, 15, 30 and 60 minutes ahead."""
    return NowcastPublic.model_validate(_answer(lambda: site.forecast.nowcast(zone_id)).to_dict())


@router.get("/api/staffing", response_model=StaffingPublic, responses=documented(422))
def staffing(site: SiteDep, hours: HoursQuery = None) -> StaffingPublic:
    """Stewards per zone per hour from the planning forecast, and the rules used."""
    plan, skipped = site.forecast.staffing(hours)
    return StaffingPublic.model_validate(
        {
            "rules": {
                "persons_per_steward": plan.rules.persons_per_steward,
                "minimum": plan.rules.minimum,
                "uplift": dict(plan.rules.uplift),
            },
            "slots": [s.to_dict() for s in plan.slots],
            "total_by_slot": [{"t": t, "stewards": n} for t, n in plan.total_by_slot().items()],
            "zones_without_forecast": skipped,
        }
    )


@router.get(
    "/api/staffing.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **documented(422)},
)
def staffing_csv(site: SiteDep, hours: HoursQuery = None) -> Response:
    """The staffing plan as CSV, one row per zone and hour."""
    plan, _ = site.forecast.staffing(hours)
    return Response(
        plan.to_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="staffing.csv"'},
    )
