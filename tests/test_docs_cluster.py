"""The cluster deployment guide stays true: every crowdsafe command it shows parses
with the real command line, and the KubeRay example is a RayCluster of the Ray this
project pins."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from crowdsafe.cli import _parser

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _commands() -> list[str]:
    text = (DOCS / "cluster.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    lines = [ln.split("#", 1)[0].strip() for b in blocks for ln in b.splitlines()]
    return [ln for ln in lines if ln.startswith("crowdsafe ")]


@pytest.mark.parametrize("line", _commands())
def test_every_command_in_the_guide_parses(line: str) -> None:
    args = _parser().parse_args(shlex.split(line)[1:])
    assert args.command == shlex.split(line)[1]


def test_the_guide_shows_the_fleet_commands() -> None:
    shown = {" ".join(shlex.split(c)[:3]) for c in _commands()}
    assert {
        "crowdsafe run fleet.yaml",
        "crowdsafe fleet stop",
        "crowdsafe serve fleet.yaml",
    } <= shown


def test_the_kuberay_example_is_a_raycluster_of_the_pinned_ray() -> None:
    ray = pytest.importorskip("ray", reason="the cluster extra is not installed")
    manifest = yaml.safe_load((DOCS / "kuberay-raycluster.yaml").read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayCluster")
    assert manifest["spec"]["rayVersion"] == ray.__version__
    groups = manifest["spec"]["workerGroupSpecs"]
    assert groups and all(int(g["rayStartParams"]["num-cpus"]) > 0 for g in groups)
    for spec in [manifest["spec"]["headGroupSpec"], *groups]:
        env = spec["template"]["spec"]["containers"][0]["env"]
        password = next(e for e in env if e["name"] == "PGPASSWORD")
        assert "secretKeyRef" in password["valueFrom"]  # never a literal password
