"""Rolling OS updates on real hosts: refused while a host is unhealthy, applied host by host
with health checks and the declared state audited after each host; app hosts rebooted one at a
time under load (a reboot in the lab restarts the host's container: the kernel stays the
machine's), a reboot that would stop the ENT refused; a package never starts a service its host
does not run."""

import pytest

from preau_ops import runner
from preau_ops.paths import STATE_DIR
from preau_ops.release.patch import BOOT_MARKER

from .conftest import deploy
from .loadgen import Load

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]
CA = str(STATE_DIR / "ca" / "ca.crt")


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


def test_a_reboot_that_would_stop_the_ent_is_refused_before_anything(lab):
    db = lab.hosts_in("db")[0]
    result = deploy("patch", "--reboot", "--limit", db.name, check=False)
    assert result.returncode == 1
    out = " ".join(result.stdout.split())
    assert f"rebooting would stop the ENT: {db.name} (the database" in out, out[-1500:]
    assert "--allow-downtime" in out and "nothing was changed" in out


def test_a_package_cannot_start_a_service_its_host_does_not_run(lab):
    """The lab image carries every role's packages: nginx is installed on the app hosts, as
    a package pulled in by mistake would be in production. Its postinst's start (here by hand)
    must not bring it up: the base role masked it (port 80 open on app1 failed DECL-03 before)."""
    app = lab.hosts_in("app")[0]
    with runner.FabricSession(app, lab) as session:
        session.run(app, "deb-systemd-invoke start nginx.service", check=False)
        session.run(app, "systemctl start nginx.service", check=False)
        state = session.run(
            app, "systemctl is-enabled nginx.service; systemctl is-active nginx", check=False
        )
    assert state.stdout.split() == ["masked", "inactive"]


def _boots(lab, hosts) -> dict[str, str]:
    with runner.session(lab, hosts) as sessions:
        return {h.name: sessions.run(h, BOOT_MARKER).stdout for h in hosts}


def test_patch_reboots_an_app_host_under_load(lab):
    """One app host (both, one at a time, is the bench's patch_reboot_rolling: the order is
    unit-tested): out of the lb, updated, rebooted, back on a new boot, its declared state
    audited, back in the lb; no request fails."""
    app = lab.hosts_in("app")[-1]
    lb = lab.hosts_in("lb")[0]
    before = _boots(lab, [app])
    with Load(lb.address, lb.vars["preau_domain"], CA) as load:
        out = deploy("patch", "--reboot", "--limit", app.name, timeout=1500).stdout
    assert load.total > 20
    assert load.failed == 0, dict(load.counts)
    assert _boots(lab, [app]) != before
    text = " ".join(out.split())
    assert "out of the load balancer meanwhile; rebooted" in text, text[-2000:]
