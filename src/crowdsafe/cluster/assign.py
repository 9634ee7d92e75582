"""Sticky assignment of cameras to nodes: pure, so that it is tested without a cluster.

The rule, and why: a camera that moves loses its reader's connection, its tracker and
its open bucket (the old worker stores a partial bucket, the new one starts afresh), so
the controller moves as few cameras as it can:

* a camera whose node is alive and within its capacity stays where it is;
* a node over its capacity (its cameras' costs grew, its capacity shrank) gives up its
  costliest cameras first, the most overloaded node first, so that as few move as
  possible, each to a node that was within its capacity and has room for it (when
  none has, the camera stays: moving it would only move the overload);
* the orphans (new cameras, those of a node that left, those given up) go, costliest
  first, to the node whose load relative to its capacity would be lowest after taking
  each (greedy "longest processing time first");
* a node that joined (alive, and holding nothing in ``previous``) takes cameras over
  from the most loaded nodes, one at a time and only while a move leaves it less loaded
  than the node it takes from, so that a join moves only what balance needs and a
  removal moves nothing but the orphans.

Costs are in cores (CPU-seconds per second, ``evaluation/plan.py``), capacities in
cores too.  When every camera fits (each costs at most half the smallest capacity and
all of them at most half of all capacity), no node is loaded beyond its capacity; when
they cannot all fit, the load is spread in proportion to capacity instead.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["assign", "loads"]

# Relative loads closer than this are equal: it keeps float noise from moving cameras.
_EPS = 1e-9


def loads(costs: Mapping[str, float], assignment: Mapping[str, str]) -> dict[str, float]:
    """Cores assigned to each node that holds a camera of ``assignment``."""
    out: dict[str, float] = {}
    for camera_id, node_id in assignment.items():
        out[node_id] = out.get(node_id, 0.0) + costs[camera_id]
    return out


def assign(
    costs: Mapping[str, float],
    capacities: Mapping[str, float],
    previous: Mapping[str, str],
) -> dict[str, str]:
    """Camera id -> node id for every camera of ``costs`` (its cost in cores) on the
    nodes of ``capacities`` (node id -> cores, each > 0), moving as few cameras of
    ``previous`` (camera id -> node id) as the rule of the module allows.

    Deterministic: the same inputs give the same assignment.  Raises ValueError for a
    negative cost, a capacity that is not positive, or cameras with no node at all."""
    for camera_id, cost in costs.items():
        if not cost >= 0.0:
            raise ValueError(f"camera {camera_id}: cost must be >= 0 cores, got {cost}")
    for node_id, cap in capacities.items():
        if not cap > 0.0:
            raise ValueError(f"node {node_id}: capacity must be > 0 cores, got {cap}")
    if costs and not capacities:
        raise ValueError(f"{len(costs)} cameras but no node to run them on")
    load = dict.fromkeys(capacities, 0.0)
    held: dict[str, list[str]] = {node_id: [] for node_id in capacities}
    out: dict[str, str] = {}
    orphans: list[str] = []
    for camera_id in sorted(costs):
        was = previous.get(camera_id)
        if was is not None and was in capacities:
            out[camera_id] = was
            load[was] += costs[camera_id]
            held[was].append(camera_id)
        else:
            orphans.append(camera_id)
    over = {n for n in capacities if load[n] > capacities[n] + _EPS}
    fits = [n for n in sorted(capacities) if n not in over]
    for cameras in held.values():
        cameras.sort(key=lambda c: (-costs[c], c))
    while over:
        # the most overloaded node gives up its costliest camera that fits elsewhere: the
        # fewest moves, spread evenly; a camera moves only to a node that was within its
        # capacity and has room for it, so an overloaded fleet stays put
        node_id = max(over, key=lambda n: (load[n] / capacities[n], n))
        move = next(
            (
                (i, min(room, key=lambda n: ((load[n] + costs[c]) / capacities[n], n)))
                for i, c in enumerate(held[node_id])
                if (room := [n for n in fits if load[n] + costs[c] <= capacities[n] + _EPS])
            ),
            None,
        )
        if move is None:
            over.discard(node_id)
            continue
        i, to = move
        camera_id = held[node_id].pop(i)
        out[camera_id] = to
        load[node_id] -= costs[camera_id]
        load[to] += costs[camera_id]
        if load[node_id] <= capacities[node_id] + _EPS:
            over.discard(node_id)
    for camera_id in sorted(orphans, key=lambda c: (-costs[c], c)):
        cost = costs[camera_id]
        node_id = min(capacities, key=lambda n: ((load[n] + cost) / capacities[n], n))
        out[camera_id] = node_id
        load[node_id] += cost
    joined = [n for n in sorted(capacities) if not held[n]]
    if joined:
        _take_over(costs, capacities, out, load, joined)
    return out


def _take_over(
    costs: Mapping[str, float],
    capacities: Mapping[str, float],
    out: dict[str, str],
    load: dict[str, float],
    joined: list[str],
) -> None:
    """Move cameras to the nodes in ``joined`` while each move lowers the imbalance."""

    def rel(node_id: str) -> float:
        return load[node_id] / capacities[node_id]

    joined_set = set(joined)
    givers = [n for n in capacities if n not in joined_set]
    # each giver's movable cameras, costliest first (a camera of no cost balances nothing)
    held: dict[str, list[str]] = {n: [] for n in givers}
    for camera_id, node_id in out.items():
        if node_id in held and costs[camera_id] > 0.0:
            held[node_id].append(camera_id)
    for cameras in held.values():
        cameras.sort(key=lambda c: (-costs[c], c))
    while givers:
        to = min(joined, key=lambda n: (rel(n), n))
        source = max(givers, key=lambda n: (rel(n), n))
        limit = rel(source) - _EPS
        # the costliest camera that still helps: the fewest moves for the same balance
        pick = next(
            (
                i
                for i, c in enumerate(held[source])
                if (load[to] + costs[c]) / capacities[to] < limit
            ),
            None,
        )
        if pick is None:
            return
        camera_id = held[source].pop(pick)
        out[camera_id] = to
        load[source] -= costs[camera_id]
        load[to] += costs[camera_id]
