"""Rolling OS updates on real hosts: refused while a host is unhealthy, then applied host by
host with health checks."""

import pytest

from preau_ops import runner

from .conftest import deploy

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]


def _ops_host(lab):
    return lab.hosts_in("backup")[0]


def test_patch_refuses_an_unhealthy_host(lab):
    host = _ops_host(lab)
    with runner.FabricSession(host, lab) as session:
        session.run(host, "systemctl reset-failed preau-test-broken", check=False)  # earlier runs
        session.run(host, "systemd-run --unit preau-test-broken /bin/false; sleep 1", check=False)
    try:
        result = deploy("patch", "--limit", host.name, check=False)
        assert result.returncode == 1
        assert "not healthy before patching" in result.stdout
        assert "preau-test-broken" in result.stdout
    finally:
        with runner.FabricSession(host, lab) as session:
            session.run(host, "systemctl reset-failed preau-test-broken", check=False)


def test_patch_updates_a_host_and_checks_it(lab):
    host = _ops_host(lab)
    out = deploy("patch", "--limit", host.name, timeout=900).stdout
    assert "package(s) upgraded" in out and host.name in out
