"""Starting, finding and stopping a fleet on a Ray cluster (``crowdsafe run --ray``,
``crowdsafe fleet stop``).

``start_fleet`` starts the controller, or finds the one running in the config's
namespace: the controller is detached, so it and its workers keep running when the
command that started them ends (a control room's cameras must not stop because a
terminal closed); ``stop_fleet`` stops the workers, storing their open buckets, and
ends the controller.  Errors are :class:`~crowdsafe.errors.ClusterError`: Ray not
installed (the ``cluster`` extra), the cluster unreachable, or a controller already
running another config.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from crowdsafe.cluster.controller import CONTROLLER_NAME, SpecController
from crowdsafe.cluster.spec import drop_spec, store_spec
from crowdsafe.cluster.worker import DetectorFactory, FleetWorker
from crowdsafe.config import ClusterConfig, CrowdsafeConfig
from crowdsafe.errors import ClusterError

__all__ = ["connect", "find_controller", "start_fleet", "stop_fleet"]


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "Ray is not installed: install the cluster extra (pip install 'crowdsafe[cluster]')"
        ) from None
    return ray


def connect(address: str | None, namespace: str) -> None:
    """Join the Ray cluster at ``address`` (None: RAY_ADDRESS, else a new local one) in
    ``namespace``; nothing is sent to Ray's usage statistics."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = _ray()
    if ray.is_initialized():
        return
    if address not in (None, "auto", "local"):
        _reachable(address)
    try:
        ray.init(address=address, namespace=namespace, logging_level="WARNING")
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address or 'auto'}: {exc}") from exc


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """Raise ClusterError unless ``address`` (host:port or ray://host:port) accepts a
    connection: Ray itself retries an unreachable address for minutes, silently."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterError(f"--ray: '{address}' is not HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def find_controller(namespace: str) -> Any | None:
    """The running controller of ``namespace``, or None."""
    ray = _ray()
    try:
        return ray.get_actor(CONTROLLER_NAME, namespace=namespace)
    except ValueError:
        return None


def start_fleet(
    config: CrowdsafeConfig,
    detector_factory: DetectorFactory | None = None,
    worker_class: type[FleetWorker] = FleetWorker,
) -> Any:
    """The controller running ``config`` (started if none runs) with workers of
    ``worker_class``.  Raises ClusterError when one runs another config: stop it first
    (``crowdsafe fleet stop``)."""
    ray = _ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    cluster = config.cluster or ClusterConfig()
    found = find_controller(cluster.namespace)
    if found is not None:
        if ray.get(found.config_json.remote()) != config.model_dump_json():
            raise ClusterError(
                f"a fleet with another config runs in namespace '{cluster.namespace}'; "
                "stop it first with `crowdsafe fleet stop`"
            )
        return found
    here = ray.get_runtime_context().get_node_id()
    store_spec(cluster.namespace, (config, detector_factory, worker_class))
    return (
        ray.remote(SpecController)
        .options(
            name=CONTROLLER_NAME,
            namespace=cluster.namespace,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,  # Ray restarts it; it carries on from the stored placements
            max_concurrency=4,
            num_cpus=0,
            # near the driver (the head, usually) but anywhere if that node goes
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True),
        )
        .remote(cluster.namespace)  # the rest from the spec (spec.py)
    )


def stop_fleet(namespace: str) -> bool:
    """Stop the fleet of ``namespace``; False when none ran."""
    ray = _ray()
    found = find_controller(namespace)
    if found is None:
        return False
    try:
        ray.get(found.stop.remote(), timeout=120.0)
    finally:
        ray.kill(found, no_restart=True)
        drop_spec(namespace)
    return True
