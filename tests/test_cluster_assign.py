"""The sticky assignment (cluster/assign.py), its properties checked by hypothesis,
and the per-camera costs it is given (cluster/cost.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crowdsafe.cluster.assign import assign, loads

COSTS = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=4),
    st.floats(0.01, 2.0, allow_nan=False),
    min_size=1,
    max_size=40,
)
NODES = st.dictionaries(
    st.sampled_from(["n1", "n2", "n3", "n4", "n5"]), st.floats(1.0, 16.0), min_size=1
)


@given(COSTS, NODES)
def test_each_camera_is_placed_exactly_once_on_a_node_given(
    costs: dict[str, float], nodes: dict[str, float]
) -> None:
    out = assign(costs, nodes, {})
    assert set(out) == set(costs)
    assert set(out.values()) <= set(nodes)


@given(COSTS, NODES, st.data())
def test_a_removal_moves_only_the_removed_nodes_cameras(
    costs: dict[str, float], nodes: dict[str, float], data: st.DataObject
) -> None:
    before = assign(costs, nodes, {})
    if len(nodes) < 2:
        return
    gone = data.draw(st.sampled_from(sorted(nodes)))
    left = {n: c for n, c in nodes.items() if n != gone}
    # a node that held nothing counts as joined, and takes cameras over (tested below)
    assume(set(left) <= set(before.values()))
    # capacities large enough that nothing left is over capacity after the removal
    roomy = {n: c + sum(costs.values()) for n, c in left.items()}
    after = assign(costs, roomy, before)
    assert set(after) == set(costs)
    for camera_id, node_id in before.items():
        if node_id != gone:
            assert after[camera_id] == node_id, camera_id
        else:
            assert after[camera_id] in left


@given(COSTS, NODES)
def test_the_same_inputs_keep_every_camera_where_it_is(
    costs: dict[str, float], nodes: dict[str, float]
) -> None:
    before = assign(costs, nodes, {})
    assert assign(costs, nodes, before) == before


@given(COSTS, NODES)
def test_loads_stay_within_capacity_when_everything_fits_easily(
    costs: dict[str, float], nodes: dict[str, float]
) -> None:
    # each camera at most half the smallest node, all at most half of all nodes
    scale = min(
        min(nodes.values()) / 2 / max(costs.values()), sum(nodes.values()) / 2 / sum(costs.values())
    )
    scaled = {c: v * scale for c, v in costs.items()}
    out = assign(scaled, nodes, {})
    for node_id, load in loads(scaled, out).items():
        assert load <= nodes[node_id] + 1e-6


@settings(max_examples=50)
@given(st.integers(4, 60), st.integers(1, 4))
def test_a_joining_node_takes_over_only_what_balance_needs(cameras: int, nodes: int) -> None:
    costs = {f"c{i:03d}": 0.25 for i in range(cameras)}
    caps = {f"n{i}": 4.0 for i in range(nodes)}
    before = assign(costs, caps, {})
    after = assign(costs, {**caps, "new": 4.0}, before)
    moved = [c for c in costs if after[c] != before[c]]
    assert all(after[c] == "new" for c in moved)
    counts = [list(after.values()).count(n) for n in [*caps, "new"]]
    assert max(counts) - min(counts) <= 1  # balanced
    assert len(moved) == counts[-1] == cameras // (nodes + 1)  # and no more moved


def test_an_overloaded_node_gives_up_its_costliest_camera_first() -> None:
    costs = {"a": 0.5, "b": 0.5, "big": 2.0, "c": 2.0}
    previous = {"a": "n1", "b": "n1", "big": "n1", "c": "n2"}
    out = assign(costs, {"n1": 1.5, "n2": 4.0}, previous)
    assert out == {"a": "n1", "b": "n1", "big": "n2", "c": "n2"}
    # with no room anywhere, nothing moves: moving would only move the overload
    assert assign(costs, {"n1": 1.5, "n2": 2.2}, previous) == previous


@pytest.mark.parametrize(
    ("costs", "nodes", "message"),
    [
        ({"a": -1.0}, {"n": 1.0}, "camera a: cost must be >= 0"),
        ({"a": 1.0}, {"n": 0.0}, "node n: capacity must be > 0"),
        ({"a": 1.0}, {}, "1 cameras but no node"),
    ],
)
def test_bad_inputs_are_refused_naming_the_value(
    costs: dict[str, float], nodes: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        assign(costs, nodes, {})


def test_8000_cameras_on_4_nodes_and_a_fifth_joining() -> None:
    costs = {f"cam{i:05d}": 0.25 for i in range(8000)}
    caps = {f"n{i}": 600.0 for i in range(4)}
    before = assign(costs, caps, {})
    assert sorted(loads(costs, before).values()) == [500.0] * 4
    after = assign(costs, {**caps, "n4": 600.0}, before)
    assert sum(after[c] != before[c] for c in costs) == 1600


def camera(cam_id: str, fps: float = 2.0) -> dict[str, object]:
    return {
        "id": cam_id,
        "source": {"url": "sample:vtest"},
        "analysis_fps": fps,
        "calibration": {
            "image_points": [[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]],
            "ground_points_m": [
                [-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.0, 14.06],
            ],
        },
        "zones": [{"id": f"{cam_id}-all", "polygon": [[0, 200], [768, 200], [768, 576]]}],
    }  # fmt: skip


def test_costs_come_from_the_profile_as_crowdsafe_plan_reads_it(tmp_path: Path) -> None:
    import yaml

    from crowdsafe.cluster.cost import camera_costs
    from crowdsafe.config import ClusterConfig, parse_config
    from crowdsafe.evaluation.profile import CostEntry, CostProfile, save_profile

    entry = CostEntry(
        resolution="576p", width=768, height=576, stream_fps=10, gop=10, mode="nonref",
        analysed_fps=2, decode_cores_per_camera=0.02, analysis_cpu_s_per_frame=0.06,
        store_cpu_s_per_frame=0.0, cameras_per_core=1 / 0.14, achieved_fps_min=2,
        lag_p95_s=0.1, measured_at="2026-12-01T00:00:00Z", machine="2 cores, test",
    )  # fmt: skip
    # 4 fps of a 10 fps stream decodes every frame (ingest/modes.py), at 0.03 cores
    every = entry.model_copy(
        update={"mode": "all", "analysed_fps": 4, "decode_cores_per_camera": 0.03}
    )
    save_profile(tmp_path / "profile.json", CostProfile(entries=[entry, every]))
    cams = [camera("a", 2), camera("b", 4)]
    config = parse_config(yaml.safe_dump({"cameras": cams}), base_dir=tmp_path)
    costs = camera_costs(
        config, ClusterConfig(cost={"profile": "profile.json", "resolution": "576p"})
    )
    assert costs == pytest.approx({"a": 0.02 + 2 * 0.06, "b": 0.03 + 4 * 0.06})
    assert camera_costs(config, ClusterConfig()) == {"a": 0.25, "b": 0.25}


def test_a_cluster_needs_the_postgresql_store(tmp_path: Path) -> None:
    import yaml

    from crowdsafe.config import parse_config
    from crowdsafe.errors import ConfigError

    text = yaml.safe_dump({"cameras": [camera("a")], "cluster": {}})
    with pytest.raises(ConfigError, match=r"needs storage\.backend: postgresql"):
        parse_config(text, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ({"path": "s.db"}, "needs storage.backend: postgresql (got sqlite)"),
        (
            {"backend": "postgresql", "dsn": "postgresql://127.0.0.1:1/x"},
            "cannot reach the Ray cluster at 127.0.0.1:{port}",
        ),
    ],
)
def test_run_on_ray_refuses_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], storage: dict[str, str], message: str
) -> None:
    import yaml

    from crowdsafe.cli import main

    from .servers import free_port

    port = free_port()  # nothing listens there
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"cameras": [camera("a")], "storage": storage}))
    assert main(["run", str(path), "--ray", f"127.0.0.1:{port}"]) == 2
    assert message.format(port=port) in capsys.readouterr().err
