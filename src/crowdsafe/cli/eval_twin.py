"""``crowdsafe eval twin``: the alerts, nowcast and time to clear on a simulated crowd
whose truth is known (SIMULATION ONLY: ``evaluation/twin.py``; JuPedSim and PedPy, the
``twin`` extra)."""

from __future__ import annotations

import argparse

from crowdsafe.cli._common import Subcommands, add_json, report
from crowdsafe.errors import UsageError

__all__ = ["register"]

_SCENARIOS = ("bottleneck", "steady", "exit-closed")  # evaluation/twin_sim.py SCENARIOS


def register(evaluations: Subcommands) -> None:
    twin = evaluations.add_parser(
        "twin", help="alerts, nowcast and time to clear on a simulated crowd (JuPedSim)"
    )
    twin.add_argument(
        "--scenario",
        required=True,
        choices=_SCENARIOS,
        help="bottleneck: a crowd builds up at an exit; steady: 30 min of safe flow; "
        "exit-closed: one of two exits closes mid-event",
    )
    twin.add_argument("--seed", type=int, default=0, help="the simulation's seed")
    twin.add_argument(
        "--precision", type=float, default=0.94, help="the detector's (default YOLOX-Nano's)"
    )
    twin.add_argument(
        "--recall", type=float, default=0.84, help="the detector's (default YOLOX-Nano's)"
    )
    twin.add_argument(
        "--alerts",
        action="store_true",
        help="list every alert opened or escalated in the report (default: the first ones)",
    )
    add_json(twin)
    twin.set_defaults(handler=_eval_twin)


def _eval_twin(args: argparse.Namespace) -> int:
    for name in ("precision", "recall"):
        if not 0 < getattr(args, name) <= 1:
            raise UsageError(f"--{name} must be in (0, 1], got {getattr(args, name)}")
    try:
        from crowdsafe.evaluation.twin import run_twin
    except ImportError as exc:
        raise UsageError(
            f"eval twin needs JuPedSim and PedPy ({exc.name} is missing): "
            "pip install 'crowdsafe[twin]'"
        ) from None
    result = run_twin(
        args.scenario, seed=args.seed, precision=args.precision, recall=args.recall
    ).to_dict()
    alerts = result["alerts"]
    assert isinstance(alerts, list)
    if not args.alerts:
        result["alerts"] = alerts[:10]
        result["alerts_total"] = len(alerts)
    return report(result, args.json)
