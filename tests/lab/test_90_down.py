"""Last of the lab suite: `deploy.py down` leaves no container, network or process behind."""

import subprocess

import pytest

from preau_ops import runner
from preau_ops.lab import engine, hosts

from .conftest import deploy

pytestmark = pytest.mark.lab


def _lab_processes() -> list[str]:
    out = subprocess.run(
        ["ps", "-eo", "pid,args"], capture_output=True, text=True, check=False
    ).stdout
    # the bastion's master connection names itself after its socket (`ssh: SOCKET [mux]`)
    marks = ("172.30.82.", str(runner.jump_socket(hosts._lab_bastion())))
    return [
        line
        for line in out.splitlines()
        if any(mark in line for mark in marks) and "ps -eo" not in line
    ]


def test_down_leaves_nothing_behind(lab):
    started_daemon = engine.started_by_us()
    deploy("down")
    if engine.answers():
        assert hosts.container_states() == {}
        for name in (hosts.MANAGEMENT.name, hosts.PRIVATE.name, hosts.OUTSIDE.name):
            network = subprocess.run(
                ["docker", "network", "inspect", name], capture_output=True, check=False
            )
            assert network.returncode != 0, f"network {name} is left"
    if started_daemon:
        assert not engine.answers(), "the dockerd the lab started is still running"
    assert _lab_processes() == []
    assert not hosts.HOSTS_FILE.exists()
