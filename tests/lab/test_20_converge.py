"""Hosting on real hosts: converge the lab from bare-ish hosts, converge again with zero
changes, and check that the services answer as declared."""

import json
import ssl
import subprocess
import time
import urllib.request

import pytest

from preau_ops import audit, converge
from preau_ops.paths import STATE_DIR

from .conftest import deploy

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def converged(lab):
    first = deploy("converge", timeout=1800)
    return lab, first


def _remote(lab, group):
    return audit.testinfra_host(lab.hosts_in(group)[0], sudo=True)


def test_first_converge_succeeds_on_every_host(converged):
    lab, first = converged
    for name in lab.hosts:
        assert name in first.stdout


def test_second_converge_changes_nothing(converged):
    lab, _ = converged
    result = converge.run_playbook(lab)
    assert not result.failed
    changed = {name: h.changes for name, h in result.hosts.items() if h.changes}
    assert changed == {}, f"not idempotent: {changed}"


def test_check_mode_reports_no_drift(converged):
    out = deploy("converge", "--check").stdout
    assert "No drift." in out


def test_postgresql_answers_the_app_host_only(converged):
    lab, _ = converged
    db = lab.hosts_in("db")[0]
    app = _remote(lab, "app")
    probe = f"timeout 3 bash -c '</dev/tcp/{db.address}/5432' && echo open || echo closed"
    assert app.check_output(probe) == "open"
    if "app" not in db.groups and "monitoring" not in lab.hosts_in("lb")[0].groups:
        lb_only = [h for h in lab.hosts.values() if not {"app", "backup", "db"} & set(h.groups)]
        for host in lb_only:
            assert audit.testinfra_host(host).check_output(probe) == "closed"
    # and the controller (outside) is refused too
    outside = subprocess.run(
        ["timeout", "3", "bash", "-c", f"</dev/tcp/{db.address}/5432"], check=False
    )
    assert outside.returncode != 0


def test_nginx_serves_tls_with_the_lab_ca(converged):
    lab, _ = converged
    lb = lab.hosts_in("lb")[0]
    domain = lb.vars["preau_domain"]
    context = ssl.create_default_context(cafile=str(STATE_DIR / "ca" / "ca.crt"))
    with (
        __import__("socket").create_connection((lb.address, 443), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=domain) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    plain = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "--resolve",
            f"{domain}:80:{lb.address}",
            f"http://{domain}/",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert plain.stdout.startswith("301") and "https://" in plain.stdout


def test_firewall_drops_undeclared_ports(converged):
    lab, _ = converged
    db = lab.hosts_in("db")[0]
    remote = audit.testinfra_host(db, sudo=True)
    ruleset = remote.check_output("nft list ruleset")
    assert "policy drop" in ruleset


def test_prometheus_sees_every_target_up(converged):
    lab, _ = converged
    monitoring = lab.hosts_in("monitoring")[0]
    deadline = time.monotonic() + 90
    down = ["no answer"]
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://{monitoring.address}:9090/api/v1/targets", timeout=5
            ) as answer:
                targets = json.load(answer)["data"]["activeTargets"]
            down = [
                f"{t['labels'].get('job')}:{t['labels'].get('instance')} {t['health']}"
                for t in targets
                if t["health"] != "up"
                # the app is not released yet at this point of the suite
                and t["labels"].get("job") not in ("app", "probe_readyz", "probe_public")
            ]
            if targets and not down:
                break
        except OSError as exc:
            down = [str(exc)]
        time.sleep(3)
    assert down == []


def test_a_backup_exists_after_converge(converged):
    """The first converge takes a full backup (backup_initial_full_backup); on a lab converged
    before, the daily timers keep the newest one under 26 h old."""
    from preau_ops.procedures import backups

    lab, _ = converged
    listing = backups.listing(lab)
    assert listing["database"], "no database backup after the converge"
    assert listing["database"][-1]["age_hours"] < 26
