"""What a fleet runs (its config, the workers' class and detector factory), kept in the
Ray cluster's own key-value store, so that the controller and the workers are started
(and restarted) with nothing but their namespace and names.

Why not as the actors' constructor arguments: a city's config is megabytes, so Ray keeps
such arguments in the object store, owned by whoever created the actor, and frees them
once the actor is made.  An actor that Ray restarts later (its node died, its process
crashed) then cannot get its arguments back, and its restart fails ("at least one of the
input arguments for this task could not be computed"): the controller of a fleet whose
node died, found in ``fleet simulate --remove-node-at``, stayed dead, and with it the
failover.  The key-value store lives in Ray's control store (GCS) on the head node as long
as the cluster does, whoever wrote to it.

The module imports Ray only inside its functions, like the rest of ``cluster/``.
"""

from __future__ import annotations

from typing import Any

from crowdsafe.config import CrowdsafeConfig
from crowdsafe.errors import ClusterError

__all__ = ["FleetSpec", "drop_spec", "load_spec", "store_spec"]

FleetSpec = tuple[CrowdsafeConfig, Any, type]
"""(config, detector factory or None, worker class)."""

_KEY = b"crowdsafe-fleet-spec"


def store_spec(namespace: str, spec: FleetSpec) -> None:
    """Keep ``spec`` as the fleet of ``namespace``'s (replacing any)."""
    import ray.cloudpickle as cloudpickle
    from ray.experimental.internal_kv import _internal_kv_put

    _internal_kv_put(
        _KEY,
        cloudpickle.dumps(spec),  # type: ignore[no-untyped-call]
        overwrite=True,
        namespace=namespace,
    )


def load_spec(namespace: str) -> FleetSpec:
    """The spec of the fleet of ``namespace``; ClusterError when none is kept."""
    import ray.cloudpickle as cloudpickle
    from ray.experimental.internal_kv import _internal_kv_get

    blob = _internal_kv_get(_KEY, namespace=namespace)
    if blob is None:
        raise ClusterError(f"no fleet is kept in the Ray cluster for namespace '{namespace}'")
    config, factory, worker_class = cloudpickle.loads(blob)
    return config, factory, worker_class


def drop_spec(namespace: str) -> None:
    """Forget the fleet of ``namespace`` (it was stopped)."""
    from ray.experimental.internal_kv import _internal_kv_del

    _internal_kv_del(_KEY, namespace=namespace)
