"""The fleet's controller: a named, detached Ray actor that spreads the cameras over one
worker per node and moves them when a node leaves or joins.

What Ray does, and is left to do (``docs/deployment-cluster.md``): node membership and
health (``ray.nodes()``), restarting a crashed worker on its node and a crashed
controller anywhere (``max_restarts``), pinning a worker to its node
(``NodeAffinitySchedulingStrategy(soft=False)``), reserving the node's CPUs and GPUs for
it, and finding actors by name (``get_if_exists``), so a restarted controller finds the
workers that kept running.  What is crowdsafe's own: which camera runs where
(``assign.py``, sticky), persisted in ``camera_placements`` (``registry.py``) so that
a restarted controller keeps the placements instead of reshuffling every camera.

Every ``rebalance_interval_s`` the controller:

1. reads the alive nodes and makes sure each has its worker ("crowdsafe-worker-<node>");
2. asks each worker which cameras it runs, removing those no longer its own (their
   buckets are stored before the reply);
3. counts a node whose worker has not answered for ``worker_timeout_s`` (or that Ray
   reports dead) as gone, and assigns the cameras again on the nodes left;
4. adds each camera to its new worker only once no answering worker runs it, so that
   two readers never measure one camera at once.

A round in which the usable nodes, the workers and the placements are those of the last
one reuses that round's assignment (``_plan``), so a steady fleet pays for the pings.

This module imports Ray only inside :func:`actor_options` and the actor's methods, so
it is imported (and type-checked) without the ``cluster`` extra.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from crowdsafe.cluster.assign import assign
from crowdsafe.cluster.cost import camera_costs
from crowdsafe.cluster.registry import FleetRegistry, Placement
from crowdsafe.cluster.worker import DetectorFactory, FleetWorker
from crowdsafe.config import ClusterConfig, CrowdsafeConfig
from crowdsafe.config.storage import shared_store
from crowdsafe.store.maintenance import MaintenanceLoop, MaintenanceStatus
from crowdsafe.store.postgres import PostgresStore

__all__ = ["CONTROLLER_NAME", "FleetController", "NodeView", "worker_name"]

log = logging.getLogger(__name__)

CONTROLLER_NAME = "crowdsafe-controller"

# How long one call to a worker may take before it counts as not answering this round.
_CALL_TIMEOUT_S = 2.0


def worker_name(node_id: str) -> str:
    """The Ray actor name of a node's worker."""
    return f"crowdsafe-worker-{node_id}"


@dataclass(frozen=True)
class NodeView:
    """An alive Ray node: its id, the cores and GPUs Ray says it has."""

    node_id: str
    cpus: float
    gpus: float


def alive_nodes() -> dict[str, NodeView]:
    """The nodes Ray reports alive with at least one CPU."""
    import ray

    out = {}
    # Ray's own API for node membership; untyped in Ray 2.x
    for node in ray.nodes():  # type: ignore[no-untyped-call]
        resources = node.get("Resources", {})
        if node.get("Alive") and resources.get("CPU", 0) >= 1:
            out[node["NodeID"]] = NodeView(
                node["NodeID"], float(resources["CPU"]), float(resources.get("GPU", 0))
            )
    return out


class FleetController:
    """Runs as the Ray actor :data:`CONTROLLER_NAME`; see the module docstring.
    Raises ConfigError unless the store is PostgreSQL."""

    def __init__(
        self,
        config: CrowdsafeConfig,
        detector_factory: DetectorFactory | None = None,
        worker_class: type[FleetWorker] = FleetWorker,
    ) -> None:
        storage = shared_store(config.storage, "fleet controller")
        self.config = config
        self.cluster = config.cluster or ClusterConfig()
        self.detector_factory = detector_factory
        self.worker_class = worker_class  # a subclass for simulated cameras (synthetic.py)
        self.costs = camera_costs(config, self.cluster)
        self.registry = FleetRegistry(storage.dsn, connect_timeout_s=storage.connect_timeout_s)
        # a restarted controller carries on from the stored placements
        self.placements: dict[str, Placement] = {
            cid: p for cid, p in self.registry.placements().items() if cid in self.costs
        }
        # The shared store's maintenance (partitions ahead, rollups, retention) runs
        # here, once per fleet: the workers write but do not maintain, and an API server
        # may be one of many.  Ray restarts the controller, and with it the loop.
        self._store = PostgresStore(
            storage.dsn, pool_max=2, connect_timeout_s=storage.connect_timeout_s
        )
        self.maintenance = MaintenanceLoop(
            self._store, storage.retention, storage.rollup_interval_s
        )
        self.maintenance.start()
        self.workers: dict[str, Any] = {}
        self.answered_at: dict[str, float] = {}
        self.running: dict[str, set[str]] = {}  # node id -> cameras its worker reported
        # the last round's plan: its inputs, the placements it left, each worker's cameras
        self._planned: tuple[Any, dict[str, Placement], dict[str, list[str]]] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._forever, name="fleet-control", daemon=True)
        self._thread.start()

    # --- what `crowdsafe run --ray` and the tests ask ------------------------------------

    def config_json(self) -> str:
        """The config this controller runs, as JSON (to compare with a new one)."""
        return self.config.model_dump_json()

    def summary(self) -> dict[str, Any]:
        """Cameras per node and the cameras each worker reported running."""
        with self._lock:
            per_node: dict[str, int] = {}
            for p in self.placements.values():
                per_node[p.node_id] = per_node.get(p.node_id, 0) + 1
            return {
                "cameras": len(self.costs),
                "placed": len(self.placements),
                "per_node": per_node,
                "running": {n: len(c) for n, c in self.running.items()},
                "workers": sorted(self.workers),
            }

    def maintenance_status(self) -> MaintenanceStatus:
        """The last round of the shared store's maintenance."""
        return self.maintenance.status

    def placement(self) -> dict[str, Placement]:
        with self._lock:
            return dict(self.placements)

    def worker(self, node_id: str) -> Any:
        """The worker actor of a node (for the tests: its alert engine's view)."""
        with self._lock:
            return self.workers[node_id]

    def stop(self) -> None:
        """Stop every worker (each stores its open buckets) and end the loop; the
        caller then kills this actor."""
        import ray

        self._stop.set()
        self._thread.join(10.0)
        with self._lock:
            workers = list(self.workers.values())
        for w in workers:
            try:
                ray.get(w.stop.remote(), timeout=15.0)
            except Exception:  # a worker on a dead node is gone already
                log.warning("a worker did not stop cleanly", exc_info=True)
            ray.kill(w, no_restart=True)
        self.maintenance.stop()
        self._store.close()
        self.registry.close()

    # --- the loop -------------------------------------------------------------------

    def _forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a store or cluster hiccup: the next round retries
                log.exception("fleet controller: a round failed")
            self._stop.wait(self.cluster.rebalance_interval_s)

    def _ensure_worker(self, node: NodeView) -> Any:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        handle = self.workers.get(node.node_id)
        if handle is not None:
            return handle
        name = worker_name(node.node_id)
        handle = (
            ray.remote(spec_worker(self.worker_class))
            .options(
                name=name,
                namespace=self.cluster.namespace,
                lifetime="detached",
                get_if_exists=True,
                max_restarts=-1,  # Ray restarts a crashed worker on its node
                max_concurrency=4,  # ping answers while an assign opens cameras
                num_cpus=node.cpus,
                num_gpus=node.gpus,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            )
            # only names: the worker reads the fleet's spec from Ray (spec.py), so
            # Ray can restart it however long after its creator let go of anything
            .remote(self.cluster.namespace, node.node_id, name)
        )
        with self._lock:
            self.workers[node.node_id] = handle
        # a new worker has worker_start_s to answer first, then worker_timeout_s each time
        self.answered_at.setdefault(
            node.node_id,
            time.monotonic() + self.cluster.worker_start_s - self.cluster.worker_timeout_s,
        )
        return handle

    def _call(self, calls: dict[str, Any]) -> dict[str, list[str]]:
        """Wait for each worker's reply; those that answered in time."""
        import ray

        deadline = time.monotonic() + _CALL_TIMEOUT_S
        out: dict[str, list[str]] = {}
        for node_id, ref in calls.items():
            try:
                out[node_id] = ray.get(ref, timeout=max(0.05, deadline - time.monotonic()))
            except Exception as exc:  # not started yet, restarting, or on a dead node
                log.debug("worker on %s did not answer: %s", node_id, exc)
                continue
            self.answered_at[node_id] = time.monotonic()
            self.running[node_id] = set(out[node_id])
        return out

    def step(self) -> None:
        """One round of the loop (module docstring)."""
        nodes = alive_nodes()
        for node in nodes.values():
            self._ensure_worker(node)
        with self._lock:
            for node_id in [n for n in self.workers if n not in nodes]:
                del self.workers[node_id]  # Ray ended it with its node
                self.running.pop(node_id, None)
                self.answered_at.pop(node_id, None)
        now = time.monotonic()
        usable = {
            n: v
            for n, v in nodes.items()
            if now - self.answered_at.get(n, now) <= self.cluster.worker_timeout_s
        }
        by_node = self._plan(usable)
        # removals first (a ping that drops what is no longer the worker's), then additions
        replies = self._call(
            {n: w.assign.remote(by_node.get(n, []), add=False) for n, w in self.workers.items()}
        )
        elsewhere = {c for n, cams in replies.items() for c in cams}
        adds = {}
        for node_id in replies:
            wanted = by_node.get(node_id, [])
            have = set(replies[node_id])  # a list's `in` made this quadratic in cameras
            missing = [c for c in wanted if c not in have and c not in elsewhere]
            if missing:
                adds[node_id] = self.workers[node_id].assign.remote([*replies[node_id], *missing])
        self._call(adds)

    def _plan(self, usable: dict[str, NodeView]) -> dict[str, list[str]]:
        """Each worker's cameras (node id -> camera ids) on the ``usable`` nodes.

        Why kept: :func:`assign` is deterministic, so while the usable nodes, the
        workers and the placements are those of the last round its answer is the last
        one; a steady fleet of 8,000 cameras then skips it and its bookkeeping."""
        key = (tuple(sorted((n, v.cpus) for n, v in usable.items())), tuple(sorted(self.workers)))
        if self._planned is not None and self._planned[0] == key:
            placed, by_node = self._planned[1], self._planned[2]
            if placed is self.placements:  # replaced, never changed in place
                return by_node
        previous = {cid: p.node_id for cid, p in self.placements.items()}
        target = assign(self.costs, {n: v.cpus for n, v in usable.items()}, previous)
        self._record(target)
        by_node = {n: [] for n in self.workers}
        for cid, node_id in target.items():
            by_node.setdefault(node_id, []).append(cid)
        self._planned = (key, self.placements, by_node)
        return by_node

    def _record(self, target: dict[str, str]) -> None:
        """Persist the placements that changed (a camera's moves count up)."""
        changed = False
        now = time.time()
        placements = dict(self.placements)
        for cid, node_id in target.items():
            old = placements.get(cid)
            if old is None or old.node_id != node_id:
                moves = 0 if old is None else old.moves + 1
                placements[cid] = Placement(cid, node_id, worker_name(node_id), now, moves)
                changed = True
        if changed or set(placements) != set(target):
            placements = {cid: p for cid, p in placements.items() if cid in target}
            self.registry.set_placements(placements)
            with self._lock:
                self.placements = placements
            log.info("fleet: placements changed")


class SpecController(FleetController):
    """The controller as Ray runs it: made from its namespace's spec (``spec.py``)."""

    def __init__(self, namespace: str) -> None:
        from crowdsafe.cluster.spec import load_spec

        config, factory, worker_class = load_spec(namespace)
        super().__init__(config, factory, worker_class)


_SPEC_WORKERS: dict[type[FleetWorker], type[FleetWorker]] = {}


def spec_worker(worker_class: type[FleetWorker]) -> type[FleetWorker]:
    """``worker_class`` made from its namespace's spec (``spec.py``) and its names (one
    class per worker class, so that Ray exports it once)."""
    made = _SPEC_WORKERS.get(worker_class)
    if made is not None:
        return made

    class SpecWorker(worker_class):  # type: ignore[valid-type, misc]
        def __init__(self, namespace: str, node_id: str, name: str) -> None:
            from crowdsafe.cluster.spec import load_spec

            config, factory, _ = load_spec(namespace)
            super().__init__(config, node_id, name, factory)

    SpecWorker.__name__ = SpecWorker.__qualname__ = worker_class.__name__
    _SPEC_WORKERS[worker_class] = SpecWorker
    return SpecWorker
