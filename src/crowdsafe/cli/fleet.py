"""``crowdsafe run CONFIG --ray ADDRESS``, ``crowdsafe fleet stop`` and ``crowdsafe fleet
simulate``: a config's cameras on a Ray cluster (``crowdsafe/cluster/``), and a city of
scripted cameras on a local one, measured (``evaluation/fleet_sim.py``).

``run --ray`` starts the fleet (or finds it running the same config), then stays in the
foreground printing the placement summary (cameras per node) whenever it changes, until
Ctrl-C or SIGTERM.  The stop leaves the fleet running: its controller is detached, so
that the cameras do not stop because the terminal that started them closed.  ``fleet
stop`` stops it: each worker stores its open buckets, then the controller ends.  The
fleet's dashboard and API are served apart, over the shared store.
"""

from __future__ import annotations

import argparse
import json

from crowdsafe.cli._common import Subcommands

__all__ = ["follow", "register"]


def register(commands: Subcommands) -> None:
    fleet = commands.add_parser("fleet", help="run and stop cameras on a Ray cluster")
    what = fleet.add_subparsers(dest="what", required=True, metavar="WHAT")
    stop = what.add_parser("stop", help="stop the fleet (workers store their open buckets)")
    stop.add_argument("--ray", metavar="ADDRESS", help="the Ray cluster (default RAY_ADDRESS)")
    stop.add_argument("--namespace", default="crowdsafe", help="the fleet's Ray namespace")
    stop.set_defaults(handler=_stop)
    sim = what.add_parser(
        "simulate",
        help="SIMULATION: a city of scripted cameras on a local Ray cluster, measured",
    )
    sim.add_argument("--cameras", type=int, required=True, help="synthetic cameras")
    sim.add_argument("--nodes", type=int, required=True, help="Ray nodes on this machine")
    sim.add_argument("--seconds", type=float, required=True, help="how long the fleet runs")
    sim.add_argument("--dsn", required=True, help="an empty PostgreSQL database")
    sim.add_argument(
        "--remove-node-at", type=float, default=None, metavar="T",
        help="remove a non-head node T seconds after the start, as a machine that dies",
    )  # fmt: skip
    sim.add_argument("--zones-per-camera", type=int, default=3, help="zones of each camera")
    sim.add_argument("--seed", type=int, default=0, help="the crowd script's seed")
    sim.add_argument("--json", action="store_true", help="only the JSON line on stdout")
    sim.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.fleet_sim import simulate

    result = simulate(
        cameras=args.cameras,
        nodes=args.nodes,
        seconds=args.seconds,
        dsn=args.dsn,
        zones=args.zones_per_camera,
        remove_node_at_s=args.remove_node_at,
        seed=args.seed,
    )
    if not args.json:
        print(
            f"{result['samples_per_s_stored']} samples/s stored of "
            f"{result['samples_per_s_expected']}; lost {result['lost_samples']}, "
            f"duplicated {result['duplicated_samples']}"
        )
    print(json.dumps(result), flush=True)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from crowdsafe.cluster.fleet import connect, stop_fleet

    connect(args.ray, args.namespace)
    stopped = stop_fleet(args.namespace)
    print(json.dumps({"stopped": stopped, "namespace": args.namespace}))
    return 0


def follow(config_path: str, address: str | None, interval_s: float = 2.0) -> int:
    """Start (or find) the fleet of the config at ``config_path`` on ``address`` and
    print its placement summary until SIGINT/SIGTERM; the fleet keeps running."""
    from crowdsafe.cli._listen import StopSignals
    from crowdsafe.cluster.fleet import connect, start_fleet
    from crowdsafe.config import ClusterConfig, load_config
    from crowdsafe.config.storage import shared_store

    config = load_config(config_path)
    # the check a config's own cluster: section gets (config/root.py)
    shared_store(config.storage, f"{config_path}: --ray")
    cluster = config.cluster or ClusterConfig(address=address)
    config = config.model_copy(update={"cluster": cluster})
    import ray

    connect(address or cluster.address, cluster.namespace)
    controller = start_fleet(config)
    last = None
    with StopSignals() as signals:
        while not signals.stop_requested.is_set():
            summary = ray.get(controller.summary.remote())
            if summary != last:
                print(json.dumps(summary), flush=True)
                last = summary
            signals.stop_requested.wait(interval_s)
    print("the fleet keeps running; stop it with `crowdsafe fleet stop`", flush=True)
    return 0
