"""genesis-backend-slurm as the user meets it: `genesis plugins list` and `genesis doctor`."""

from __future__ import annotations

import json

import pytest


def test_the_package_shows_in_plugins_list(genesis_cli):
    out = genesis_cli(["plugins", "list", "--json"])
    assert out.returncode == 0, out
    (entry,) = [p for p in json.loads(out.stdout) if p["name"] == "genesis-backend-slurm"]
    assert entry["status"] == "ok", entry
    assert entry["provides"]["backends"] == ["slurm"]


@pytest.mark.slurm
def test_doctor_finds_the_cluster_usable(slurm_cluster, genesis_cli):
    out = genesis_cli(["doctor", "--json"], env={"SLURM_CONF": slurm_cluster.conf, "GENESIS_LOAD_PLUGINS": "genesis-backend-slurm"})
    assert out.returncode == 0, out
    assert json.loads(out.stdout)["backends"]["slurm"] == {"usable": True, "reason": None}


def test_doctor_says_why_slurm_is_not_usable_without_a_controller(genesis_cli, tmp_path):
    """A client configuration that points at a controller nobody runs."""
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=nowhere\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=1\nAuthType=auth/none\n"
                    "NodeName=n1 CPUs=1\nPartitionName=p Nodes=n1 Default=YES\n")
    out = genesis_cli(["doctor", "--json"], env={"SLURM_CONF": str(conf), "GENESIS_LOAD_PLUGINS": "genesis-backend-slurm"}, timeout=120)
    assert out.returncode == 0, out
    slurm = json.loads(out.stdout)["backends"]["slurm"]
    assert slurm["usable"] is False
    assert slurm["reason"]
