"""Hosting on real hosts: converge the lab from bare-ish hosts, converge again with zero
changes, and check that the services answer as declared."""

import json
import re
import shlex
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from preau_ops import audit, converge, monitoring_api
from preau_ops.paths import STATE_DIR

from .conftest import FIRST_CONVERGE, deploy

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def converged(lab):
    """The converge of the lab: the one that took it from bare when the platform fixture ran
    it this session (earlier modules need the platform), else one run here."""
    first = FIRST_CONVERGE[0] if FIRST_CONVERGE else deploy("converge", timeout=1800)
    return lab, first


def _remote(lab, group):
    return audit.testinfra_host(lab.hosts_in(group)[0], sudo=True, inv=lab)


def test_first_converge_succeeds_on_every_host(converged):
    lab, first = converged
    for name in lab.hosts:
        assert name in first.stdout


def test_second_converge_changes_nothing(converged):
    """A real second converge, the stronger proof than check mode's "No drift." (audit control
    DRIFT-01, which test_60 runs on the db host, failing on a hand-edited file)."""
    lab, _ = converged
    result = converge.run_playbook(lab)
    assert not result.failed
    changed = {name: h.changes for name, h in result.hosts.items() if h.changes}
    assert changed == {}, f"not idempotent: {changed}"


def test_postgresql_answers_the_app_host_only(converged):
    lab, _ = converged
    db = lab.hosts_in("db")[0]
    app = _remote(lab, "app")
    # PostgreSQL listens on the db's private address (and loopback) only
    probe = f"timeout 3 bash -c '</dev/tcp/{db.private_address}/5432' && echo open || echo closed"
    assert app.check_output(probe) == "open"
    if "app" not in db.groups and "monitoring" not in lab.hosts_in("lb")[0].groups:
        lb_only = [h for h in lab.hosts.values() if not {"app", "backup", "db"} & set(h.groups)]
        for host in lb_only:
            assert audit.testinfra_host(host, inv=lab).check_output(probe) == "closed"
    # and the controller (outside) is refused too
    outside = subprocess.run(
        ["timeout", "3", "bash", "-c", f"</dev/tcp/{db.private_address}/5432"], check=False
    )
    assert outside.returncode != 0
    if db.private_address != db.address:  # two networks: nothing on the management one
        assert app.check_output(probe.replace(db.private_address, db.address)) == "closed"


def test_services_listen_on_the_private_address_or_loopback(converged):
    """NET-01's rule on every host: only sshd and the declared public ports (the lb's 80/443)
    listen on every address; every other service on the private address or loopback."""
    from preau_ops.audit import declared

    lab, _ = converged
    stray = []
    for host in lab.hosts.values():
        out = audit.testinfra_host(host, sudo=True, inv=lab).check_output("ss -Htlnu")
        public = declared.public_ports(lab, host)
        for line in out.splitlines():
            proto, local = line.split()[0], line.split()[4]
            address, _, port = local.rpartition(":")
            address = address.strip("[]").split("%")[0]
            if address.startswith("127.") or address in ("::1", host.private_address):
                continue
            if (proto, int(port)) not in public:
                stray.append(f"{host.name}: {local}/{proto}")
    assert stray == []


# Per listener on the private address ($1 its pid when ss may name it, else "-"; $2 its owner's
# uid; $3 the address:port): each unit that may own it, and what lets that unit start before
# the address exists. systemd's own socket (init.scope: preau.socket) needs FreeBind; a service,
# After=network-online.target. Without CAP_SYS_PTRACE (the lab's hosts) `ss -p` names root's
# processes only: another user's socket is checked on every unit running as that user.
_START_ORDER = r"""
if [ "$1" = - ]; then units=$(ps -o unit= -u "$2" | sort -u); else units=$(ps -o unit= -p "$1"); fi
for unit in $units; do
  if [ "$unit" = init.scope ]; then
    unit=$(systemctl list-sockets --no-legend --full | awk -v l="$3" '$1 == l {print $2}')
    echo "$unit FreeBind=$(systemctl show -p FreeBind --value "$unit")"
  else
    echo "$unit $(systemctl show -p After --value "$unit" | tr ' ' ,)"
  fi
done
"""


def test_services_on_the_private_address_start_after_the_network(converged):
    """At boot a service bound to the private address must wait for it: started before,
    binding fails (the exporters) or PostgreSQL listens on loopback alone. The lab's containers
    have their addresses before systemd starts, so the order is read from the units; a real
    host's reboot is the proof (docs/day-zero.md)."""
    lab, _ = converged
    early = []
    for host in lab.hosts.values():
        remote = audit.testinfra_host(host, sudo=True, inv=lab)
        for line in remote.check_output("ss -Htulnpe").splitlines():
            local = line.split()[4]
            if local.rpartition(":")[0].strip("[]") != host.private_address:
                continue
            pid = (re.findall(r"pid=(\d+)", line) or ["-"])[0]
            uid = re.search(r"uid:(\d+)", line)
            owner = uid.group(1) if uid else "0"
            script = shlex.quote(_START_ORDER)
            order = remote.check_output(f"sh -c {script} - {pid} {owner} {local}")
            for unit, after in (row.split(" ", 1) for row in order.splitlines()):
                if "network-online.target" not in after.split(",") and after != "FreeBind=yes":
                    early.append(f"{host.name}: {local} ({unit})")
    assert early == [], f"listen on the private address, may start before it exists: {early}"


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
    remote = audit.testinfra_host(db, sudo=True, inv=lab)
    ruleset = remote.check_output("nft list ruleset")
    assert "policy drop" in ruleset


def test_prometheus_sees_every_target_up(converged):
    lab, _ = converged
    monitoring = lab.hosts_in("monitoring")[0]
    deadline = time.monotonic() + 90
    down = ["no answer"]
    while time.monotonic() < deadline:
        try:
            answer = monitoring_api.request(
                monitoring, monitoring_api.PROMETHEUS, "/api/v1/targets", timeout=5
            )
            targets = answer["data"]["activeTargets"]
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
    # every scrape of another host is TLS verified against the internal CA (issue #21)
    scraped = [t["scrapeUrl"] for t in targets if t["labels"].get("job") in SCRAPED_OVER_TLS]
    assert scraped and all(url.startswith("https://") for url in scraped), scraped


def test_prometheus_and_alertmanager_refuse_anonymous_clients(converged):
    """Their UIs and APIs over TLS on the private address, and only with the credentials."""
    lab, _ = converged
    monitoring = lab.hosts_in("monitoring")[0]
    for service, path in (
        ("prometheus", "/api/v1/status/buildinfo"),
        ("alertmanager", "/api/v2/status"),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            monitoring_api.request(monitoring, service, path, authenticated=False)
        assert refused.value.code == 401, service
        assert monitoring_api.request(monitoring, service, path), service


# Jobs whose targets are other hosts (exporters, the app); the probes go through the local
# blackbox exporter, whose modules verify TLS too (probe_tls: every host's certificate).
SCRAPED_OVER_TLS = ("node", "postgres", "nginx", "app")


def test_a_backup_exists_after_converge(converged):
    """The first converge takes a full backup (backup_initial_full_backup); on a lab converged
    before, the daily timers keep the newest one under 26 h old."""
    from preau_ops.procedures import backups

    lab, _ = converged
    listing = backups.listing(lab)
    assert listing["database"], "no database backup after the converge"
    assert listing["database"][-1]["age_hours"] < 26


def test_a_line_logged_on_an_app_host_reaches_the_ops_hosts_remote_journal(converged):
    """Logs outlive their host (issue #23 item 6): journald uploaded over TLS (internal PKI)."""
    lab, _ = converged
    app = lab.hosts_in("app")[0]
    ops = lab.hosts[str(app.vars["base_journal_remote_host"])]
    line = f"preau lab journal {time.time_ns()}"
    audit.testinfra_host(app, inv=lab).run_test("logger -t preau-journal-test %s", line)
    receiver = audit.testinfra_host(ops, sudo=True, inv=lab)
    read = (
        "journalctl --directory=/var/log/journal/remote -t preau-journal-test"
        f" _HOSTNAME={app.name} -o cat"
    )
    deadline = time.monotonic() + 60
    while line not in receiver.check_output(read) and time.monotonic() < deadline:
        time.sleep(2)
    assert line in receiver.check_output(read)


def test_an_app_host_reaches_what_the_platform_declares_only(converged):
    """Outbound traffic limited (issue #23 item 6): app1 reaches the database (the db host
    opens 5432 to the app group) but not the lb's 443, which the lb opens to everyone: only
    app1's output chain (default-deny) stops it."""
    lab, _ = converged
    app = _remote(lab, "app")
    probe = "timeout 3 bash -c '</dev/tcp/{}/{}' && echo open || echo closed"
    db, lb = lab.hosts_in("db")[0], lab.hosts_in("lb")[0]
    assert app.check_output(probe.format(db.private_address, 5432)) == "open"
    assert app.check_output(probe.format(lb.private_address, 443)) == "closed"
    assert "policy drop" in app.check_output("nft list chain inet preau_filter output")
    assert "policy accept" in _remote(lab, "lb").check_output(
        "nft list chain inet preau_filter output"
    )


@pytest.mark.drill
def test_a_converge_that_restarts_the_app_under_load_fails_no_request(converged):
    """Drift in preau.toml on every app host: the converge rewrites it and restarts gunicorn,
    one app host at a time (role app's throttled handler). The requests queued in the socket
    meanwhile are served, not shed as an overload (the load shedding serves what reached the lb
    before the host was ready again): 0 failed requests through the lb."""
    from .loadgen import Load

    lab, _ = converged
    for host in lab.hosts_in("app"):
        audit.testinfra_host(host, sudo=True, inv=lab).check_output(
            "sh -c 'echo \"# drift\" >> /etc/preau/preau.toml'"
        )
    lb = lab.hosts_in("lb")[0]
    ca = str(STATE_DIR / "ca" / "ca.crt")
    with Load(lb.address, lb.vars["preau_domain"], ca, workers=4) as load:
        result = deploy("converge", "--limit", "app", "--tags", "app-runtime", "--json")
    changes = {name: host["changes"] for name, host in json.loads(result.stdout)["hosts"].items()}
    assert all("Restart preau" in c for c in changes.values()), changes
    assert load.failed == 0, dict(load.counts)
    assert load.total > 0
