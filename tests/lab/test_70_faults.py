"""Faults on real hosts (issue #8): an app host down, PostgreSQL down, the backup disk full, the
backup repository refusing WAL (issue #22 item 4).
Each is seen by the users (through the load balancer), raises its alert in Alertmanager,
and is undone: the lab is as before when the module ends.

The app host dies (its container killed: nothing of it finishes) while its worker runs a job
of the queue (issue #22 item 3): an e-mail whose way to the relay it cannot reach. The other
app host's worker runs that job again once the dead worker's heartbeat is a minute old, and
the relay gets the e-mail once.

Alert rules keep their production `for:` durations (HostDown 2 min, PostgreSQLDown 1 min,
BackupFailed none); the lab only scrapes and evaluates every 15 s (inventories/lab). To keep
the wait short the faults overlap: the app host stays down (module fixture) while the backup
disk and PostgreSQL faults run, so its 2-minute alert has fired by the time it is checked.

The backup disk, PostgreSQL and repository faults and the app host's HostDown alert are
drills (marker `drill`, ~5 minutes of waiting on backups, archiving and alerts' `for:`):
`./deploy.py test lab --drills` runs them, the default run (CI's, timed) leaves them out; the
app's own 503 page without a database is tested in app/tests.
"""

from __future__ import annotations

import re
import shlex
import socket
import ssl
import uuid
from urllib.parse import quote

import pytest

from preau_ops import audit, monitoring_api, procedures
from preau_ops.lab import hosts as lab_hosts
from preau_ops.lab import relay
from preau_ops.paths import STATE_DIR

from . import mailing
from .conftest import TOPOLOGY, WAL_CHECK, WAL_PROM, deploy, psql, wait_until
from .loadgen import Load

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]
CA = str(STATE_DIR / "ca" / "ca.crt")
# Requests that may fail while nginx notices an app host has gone (its passive health check
# needs a failure to skip it; proxy_next_upstream retries on the other host meanwhile).
FAILED_REQUESTS_ALLOWED = 2
ALERT_TIMEOUT = 300
APP_HOST_ALERTS = ("HostDown", "AppNotReady")
WORKER = "preau-worker.service"
# The dead worker's job: stalled after app_jobs_stalled_after_seconds without its heartbeat
# (the lab: 20 s), put back by the next minute's retry_stalled_jobs, then run by the other
# host (the PostgreSQL fault may come in between: the queue waits for the database).
TAKEN_OVER_TIMEOUT = 300


# --------------------------------------------------------------------------- helpers


def _prometheus(lab, path: str):
    """Prometheus' API on the monitoring host's private address (TLS, authenticated)."""
    return monitoring_api.request(lab.hosts_in("monitoring")[0], monitoring_api.PROMETHEUS, path)


def _about(alert_labels: dict, host, labels: dict) -> bool:
    """Whether an alert is about this host (its instance by name or address, any port or URL)
    and has these other labels."""
    instance = alert_labels.get("instance", "")
    return any(
        re.search(rf"(^|[/@]){re.escape(name)}(:|/|$)", instance)
        for name in (host.name, host.address, host.private_address)
    ) and all(alert_labels.get(key) == value for key, value in labels.items())


def _prometheus_view(lab) -> list[str]:
    """Pending and firing alerts as Prometheus sees them (for failure messages)."""
    try:
        alerts = _prometheus(lab, "/api/v1/alerts")["data"]["alerts"]
    except OSError as exc:
        return [f"Prometheus does not answer: {exc}"]
    return [
        f"{a['labels']['alertname']}{{{a['labels'].get('instance', '')}}} {a['state']}"
        for a in alerts
    ]


def active_alerts(lab) -> list[dict]:
    """Alerts Alertmanager holds as active (firing, not silenced)."""
    monitoring = lab.hosts_in("monitoring")[0]
    path = "/api/v2/alerts?active=true&silenced=false"
    alerts = monitoring_api.request(monitoring, monitoring_api.ALERTMANAGER, path)
    return [a for a in alerts if a["status"]["state"] == "active"]


def wait_for_alert(lab, name: str, host, timeout: float = ALERT_TIMEOUT, **labels) -> dict:
    """The alert NAME about HOST (with these LABELS), once it fires in Alertmanager."""
    found: list[dict] = []

    def fired() -> bool:
        found[:] = [
            a
            for a in active_alerts(lab)
            if a["labels"]["alertname"] == name and _about(a["labels"], host, labels)
        ]
        return bool(found)

    wait_until(
        fired,
        timeout,
        lambda: (
            f"{name} for {host.name} did not fire in Alertmanager; "
            f"Prometheus: {_prometheus_view(lab)}"
        ),
        interval=5,
    )
    return found[0]


def wait_for_no_alert(lab, names: tuple[str, ...], host, timeout: float = 120, **labels) -> None:
    """Until Prometheus has none of the alerts NAMES about HOST (with these LABELS), pending
    or firing."""

    def clear() -> bool:
        alerts = _prometheus(lab, "/api/v1/alerts")["data"]["alerts"]
        return not [
            a
            for a in alerts
            if a["labels"]["alertname"] in names and _about(a["labels"], host, labels)
        ]

    wait_until(
        clear,
        timeout,
        lambda: f"{'/'.join(names)} about {host.name} still active: {_prometheus_view(lab)}",
        interval=5,
    )


def fetch(lab, path: str) -> tuple[int, str]:
    """GET https://DOMAIN/PATH through the lb, TLS verified: (status, body)."""
    lb = lab.hosts_in("lb")[0]
    domain = lb.vars["preau_domain"]
    context = ssl.create_default_context(cafile=CA)
    with (
        socket.create_connection((lb.address, 443), timeout=15) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        tls.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {domain}\r\nAccept-Language: fr\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", errors="replace")


def app_answer(lab, app, path: str) -> tuple[int, str]:
    """GET https://APP:8000/PATH (TLS verified: internal CA) from the lb (the only host besides monitoring that may ask):
    the app's own answer, without nginx; (status, body)."""
    lb = lab.hosts_in("lb")[0]
    script = (
        "import ssl, sys, urllib.request, urllib.error\n"
        f"request = urllib.request.Request('https://{app.private_address}:8000{path}', "
        f"headers={{'Host': '{lb.vars['preau_domain']}'}})\n"
        "context = ssl.create_default_context(cafile='/etc/preau/pki/ca.pem')\n"
        "try:\n    answer = urllib.request.urlopen(request, timeout=10, context=context)\n"
        "except urllib.error.HTTPError as error:\n    answer = error\n"
        "print(answer.status)\nsys.stdout.write(answer.read().decode())\n"
    )
    out = audit.testinfra_host(lb).check_output(f"python3 -c {shlex.quote(script)}")
    status, _, body = out.partition("\n")
    return int(status), body


def admin(host):
    return audit.testinfra_host(host, sudo=True)


# --------------------------------------------------------------------------- app host down


def _last_email_job(lab) -> tuple[int, str]:
    out = psql(
        lab,
        "SELECT id, status FROM procrastinate_jobs WHERE task_name = "
        "'send_notification_emails' ORDER BY id DESC LIMIT 1",
        database="preau",
    )
    job_id, _, status = out.partition("|")
    return (int(job_id), status) if job_id else (0, "")


def _hold_an_email_job(lab, victim, marker: str, saved: list[dict]) -> int:
    """A notification's e-mail job taken by the victim's worker and still running there: the
    other app hosts' workers stopped, the victim's packets to the relay dropped (its SMTP
    connection waits up to EMAIL_TIMEOUT, 10 s); the job's id. What mailing changed (to put
    back) is appended to SAVED."""
    for host in lab.hosts_in("app"):
        if host != victim:
            admin(host).check_output(f"systemctl stop {WORKER}")
    admin(victim).check_output(
        "nft insert rule inet preau_filter output "
        f"ip daddr {relay.address()} tcp dport {relay.PORT} drop"
    )
    before, _ = _last_email_job(lab)
    saved.append(mailing.notify(lab, marker, "now"))
    seen: list[tuple[int, str]] = []
    wait_until(
        lambda: (
            seen.append(_last_email_job(lab)) or seen[-1][0] > before and seen[-1][1] == "doing"
        ),
        8,
        lambda: f"the victim's worker did not take the e-mail job: {seen[-1:]}",
        interval=0.2,
    )
    return seen[-1][0]


@pytest.fixture(scope="module")
def app_host_down(lab):
    """The last app host's container killed under load while its worker runs an e-mail job;
    started again at the end. Yields the host, the load and (marker, job id) of the job."""
    assert len(lab.hosts_in("app")) >= 2, "this fault needs two app hosts (scaled topology)"
    assert relay.running(), "the lab's SMTP relay is not running (`./deploy.py lab up`)"
    victim = lab.hosts_in("app")[-1]
    lb = lab.hosts_in("lb")[0]
    procedures.app_manage(lab, "seed_demo")  # mailing's establishment
    wait_for_no_alert(lab, APP_HOST_ALERTS, victim)
    marker = f"test70-{uuid.uuid4().hex[:10]}"
    saved: list[dict] = []
    try:
        with Load(lb.address, lb.vars["preau_domain"], CA) as load:
            wait_until(lambda: load.total >= 10, 60, "no answer through the lb before the fault")
            job = _hold_an_email_job(lab, victim, marker, saved)
            lab_hosts._docker("kill", f"preau-{victim.name}")
            stopped = load.total
            for host in lab.hosts_in("app")[:-1]:
                admin(host).check_output(f"systemctl start {WORKER}")
            # until nginx has skipped the stopped host for a while
            wait_until(
                lambda: load.total >= stopped + 40,
                120,
                lambda: f"the load stalled: {dict(load.counts)}",
            )
        yield victim, load, (marker, job)
    finally:
        for host in lab.hosts_in("app")[:-1]:
            admin(host).run(f"systemctl start {WORKER}")
        for changed in saved:
            mailing.restore(lab, changed)
        deploy("lab", "up", "--topology", TOPOLOGY)  # starts the stopped host again


def test_the_watchdog_always_fires_and_goes_to_the_dead_mans_switch_only(lab):
    """The Watchdog (monitoring/rules/meta.yml) is active in Alertmanager, routed to the
    `watchdog` receiver alone (never e-mailed), and `status` finds it: no problem said."""
    found: list[dict] = []

    def watchdog() -> bool:
        found[:] = [a for a in active_alerts(lab) if a["labels"]["alertname"] == "Watchdog"]
        return bool(found)

    wait_until(watchdog, ALERT_TIMEOUT, lambda: f"no Watchdog: {_prometheus_view(lab)}", 5)
    assert [r["name"] for r in found[0]["receivers"]] == ["watchdog"]
    shown = deploy("status", check=False).stdout
    assert "Watchdog" not in shown, "status lists the Watchdog or says it is not firing"


def test_site_keeps_answering_with_an_app_host_down(app_host_down):
    victim, load, _ = app_host_down
    assert lab_hosts.container_states()[f"preau-{victim.name}"] == "exited"
    assert load.counts[200] >= 40, dict(load.counts)
    assert load.failed <= FAILED_REQUESTS_ALLOWED, (
        f"{load.failed} failed requests with {victim.name} down: {dict(load.counts)}"
    )


# --------------------------------------------------------------------------- backup disk full


def _repo_usage(remote) -> tuple[int, int]:
    """(available, size) bytes of the backup repository's filesystem."""
    out = remote.check_output(f"df --output=avail,size -B1 {lab_hosts.BACKUP_DISK_PATH} | tail -1")
    available, size = map(int, out.split())
    return available, size


def _backup_failure_cleared(lab, ops, remote, filler: str) -> None:
    """No filler and no BackupFailed alert left by an interrupted earlier run: the alert this
    test waits for must be its own."""
    remote.run(f"rm -f {filler} {filler}.rest")
    alerts = _prometheus(lab, "/api/v1/alerts")["data"]["alerts"]
    if [
        a
        for a in alerts
        if a["labels"]["alertname"] == "BackupFailed" and _about(a["labels"], ops, {"kind": "incr"})
    ]:
        deploy("backup", "now", "--kind", "incr", timeout=600)
        wait_for_no_alert(lab, ("BackupFailed",), ops, timeout=180, kind="incr")


@pytest.mark.drill
def test_backup_fails_loudly_when_the_backup_disk_is_full(lab, app_host_down):
    ops = lab.hosts_in("backup")[0]
    remote = admin(ops)
    filler = f"{lab_hosts.BACKUP_DISK_PATH}/preau-test-filler"
    _backup_failure_cleared(lab, ops, remote, filler)
    available, size = _repo_usage(remote)
    assert size <= 2 * 1024**3, (
        f"{lab_hosts.BACKUP_DISK_PATH} is not the lab's small "
        f"backup disk ({size} bytes): recreate the lab"
    )
    try:
        remote.check_output(
            f"fallocate -l {available} {filler} || true; "
            f"dd if=/dev/zero of={filler}.rest bs=64k status=none || true"
        )
        assert _repo_usage(remote)[0] < 1024**2, "the backup disk could not be filled"
        result = deploy("backup", "now", "--kind", "incr", check=False, timeout=600)
        said = " ".join(result.stdout.split())  # the console wraps long lines
        assert result.returncode == 1, said[-2000:]
        assert "preau-backup incr failed" in said and "No space left on device" in said, said[
            -2000:
        ]
        alert = wait_for_alert(lab, "BackupFailed", ops, kind="incr")
        assert alert["labels"]["severity"] == "warning"
    finally:
        remote.run(f"rm -f {filler} {filler}.rest")
    # undone: the same kind of backup succeeds again, and the alert clears
    deploy("backup", "now", "--kind", "incr", timeout=600)
    wait_for_no_alert(lab, ("BackupFailed",), ops, timeout=180, kind="incr")


# --------------------------------------------------------------------------- PostgreSQL down


def _wait_for_the_site(lab, when: str, timeout: float = 60) -> None:
    """Until the login page (which needs the database) answers 200 through the lb."""
    answers = []
    wait_until(
        lambda: answers.append(fetch(lab, "/connexion/")) or answers[-1][0] == 200,
        timeout,
        lambda: f"the site does not answer {when}: {answers[-1:]}",
    )


@pytest.mark.drill
def test_postgresql_down_gives_a_clear_503_and_recovers_alone(lab, app_host_down):
    db = lab.hosts_in("db")[0]
    remote = admin(db)
    remote.check_output("systemctl start postgresql")  # an interrupted earlier run stopped it
    _wait_for_the_site(lab, "before the fault")
    remote.check_output("systemctl stop postgresql")
    try:
        answers = []
        wait_until(
            lambda: answers.append(fetch(lab, "/connexion/")) or answers[-1][0] != 200,
            30,
            lambda: f"the site still answers 200 without its database: {answers[-1:]}",
        )
        # through the lb: the app's own 503 page in French, naming the database (nginx passes
        # a 503 on: it neither retries it nor counts it against the app host)
        status, body = answers[-1]
        assert status == 503, f"{status}: {body[:500]}"
        assert "Service momentanément indisponible" in body and "base de données" in body, body[
            :1000
        ]
        assert 'lang="fr"' in body
        assert "Traceback" not in body and "psycopg" not in body.lower()
        # the app itself, asked from the lb: its own page naming the database. Each worker keeps
        # the platform row PREAU_PLATFORM_CACHE_SECONDS (2 s) and the login form needs nothing
        # else from the database: a worker that read it just before the stop may still answer
        # 200 for that long.
        direct = []
        wait_until(
            lambda: (
                direct.append(app_answer(lab, lab.hosts_in("app")[0], "/connexion/"))
                or direct[-1][0] != 200
            ),
            10,
            lambda: f"the app still answers 200 without its database: {direct[-1:]}",
        )
        status, body = direct[-1]
        assert status == 503, f"{status}: {body[:500]}"
        assert "Service momentanément indisponible" in body and "base de données" in body, body[
            :1000
        ]
        assert "Traceback" not in body and "psycopg" not in body.lower()
        alert = wait_for_alert(lab, "PostgreSQLDown", db)
        assert alert["labels"]["severity"] == "critical"
    finally:
        remote.check_output("systemctl start postgresql")
    # no operator action: the app reconnects by itself
    _wait_for_the_site(lab, "after PostgreSQL came back")
    assert app_answer(lab, lab.hosts_in("app")[0], "/connexion/")[0] == 200
    wait_for_no_alert(lab, ("PostgreSQLDown",), db, timeout=180)


# --------------------------------------------------------------------------- repository dead


def _segments_waiting(db, remote) -> int:
    """WAL segments PostgreSQL still has to archive (archive_status/*.ready in pg_wal)."""
    status = f"/var/lib/postgresql/{db.vars['postgresql_version']}/main/pg_wal/archive_status"
    return int(remote.check_output(f"find {status} -name '*.ready' | wc -l"))


@pytest.mark.drill
def test_a_dead_repository_never_fills_the_database_disk_and_is_seen_from_the_repository(lab):
    """The repository refuses the db host's WAL (its forced command made unusable). Past the
    queue limit (lowered to 32 MiB here), pgBackRest drops the waiting WAL and tells PostgreSQL
    it was archived: pg_wal does not grow. pg_stat_archiver then looks healthy; the repository
    host's check says otherwise, and Prometheus reads it (alert WalNotReachingRepository, 15
    minutes, promtool-tested in monitoring/tests/backup_test.yml). Undone: WAL flows again and
    a full backup closes the archive's gap."""
    db, ops = lab.hosts_in("db")[0], lab.hosts_in("backup")[0]
    db_remote, ops_remote = admin(db), admin(ops)
    conf, forced = "/etc/pgbackrest/pgbackrest.conf", "/usr/local/sbin/preau-pgbackrest-remote"
    ops_remote.run(f"chmod 0755 {forced}")  # an interrupted earlier run
    queue_max = db_remote.check_output(f"grep '^archive-push-queue-max=' {conf}").strip()
    assert queue_max, "the db host archives without a queue limit"
    replace = "sed -i 's/^archive-push-queue-max=.*/{}/' " + conf
    db_remote.check_output(replace.format("archive-push-queue-max=32MiB"))
    ops_remote.check_output(f"chmod 0000 {forced}")
    try:
        failed_before = int(psql(lab, "SELECT failed_count FROM pg_stat_archiver"))
        psql(lab, "CREATE TABLE IF NOT EXISTS preau_wal_filler (x int)")
        for _ in range(4):  # 4 segments of 16 MiB: past the 32 MiB queue
            psql(lab, "INSERT INTO preau_wal_filler VALUES (1); SELECT pg_switch_wal()")
        wait_until(
            lambda: _segments_waiting(db, db_remote) == 0,
            300,
            lambda: f"{_segments_waiting(db, db_remote)} WAL segments still wait in pg_wal",
        )
        failed = int(psql(lab, "SELECT failed_count FROM pg_stat_archiver"))
        assert failed > failed_before, "archiving never failed: was the repository refusing?"
        result = ops_remote.run(WAL_CHECK)
        assert result.rc != 0, "the check saw WAL reach a repository that refuses it"
        metrics = ops_remote.check_output(f"cat {WAL_PROM}").splitlines()
        assert 'preau_wal_archive_check_success{stanza="preau"} 0.000' in metrics
        query = "/api/v1/query?query=" + quote("preau_wal_archive_check_success == 0")
        wait_until(
            lambda: _prometheus(lab, query)["data"]["result"],
            90,
            "Prometheus does not see the failed check",
        )
    finally:
        ops_remote.run(f"chmod 0755 {forced}")
        db_remote.run(replace.format(queue_max))
        psql(lab, "DROP TABLE IF EXISTS preau_wal_filler")
    assert ops_remote.run(WAL_CHECK).rc == 0, "WAL does not reach the repository again"
    assert (
        'preau_wal_archive_check_success{stanza="preau"} 1.000'
        in ops_remote.check_output(f"cat {WAL_PROM}").splitlines()
    )
    deploy("backup", "now", "--kind", "full", timeout=900)  # the archive has a gap: close it


# --------------------------------------------------------------------------- the dead host's job


def test_the_dead_host_s_job_is_finished_by_the_other_once(lab, app_host_down):
    """The e-mail job the killed host was running is taken over by the other host's worker:
    the relay gets the e-mail once, and the job ends succeeded."""
    _, _, (marker, job) = app_host_down
    wait_until(
        lambda: mailing.delivered(marker),
        TAKEN_OVER_TIMEOUT,
        lambda: f"the dead host's e-mail job was not run again: {_last_email_job(lab)}",
        interval=5,
    )
    # that job's own status: the last e-mail job may be another one by then (a CI run saw
    # job 31 after the held job 27, the test then waiting for 27 to be the last in vain)
    status = f"SELECT status FROM procrastinate_jobs WHERE id = {int(job)}"
    wait_until(
        lambda: psql(lab, status, database="preau") == "succeeded",
        30,
        lambda: f"job {job} did not end: {psql(lab, status, database='preau')}",
    )
    messages = mailing.delivered(marker)
    assert [str(m["Subject"]) for m in messages] == [mailing.subject(marker)]


# --------------------------------------------------------------------------- the alert of the app host


@pytest.mark.drill
def test_an_alert_fires_for_the_app_host_down(lab, app_host_down):
    """A drill: HostDown's 2 minutes (production's `for:`) after the kill were ~95 s of the
    default run spent waiting. The rule itself is promtool-tested (monitoring/tests), the
    scrape of every host and an alert's way to Alertmanager and the relay are the default
    run's (test_20's targets up, the Watchdog above, test_80's e-mails)."""
    victim, _, _ = app_host_down
    alert = wait_for_alert(lab, "HostDown", victim)
    assert alert["labels"]["severity"] == "critical"
    assert "Hôte injoignable" in alert["annotations"]["summary"]


def test_the_app_host_comes_back(lab, app_host_down):
    victim, _, (marker, _) = app_host_down
    deploy("lab", "up", "--topology", TOPOLOGY)
    assert lab_hosts.container_states()[f"preau-{victim.name}"] == "running"
    wait_for_no_alert(lab, APP_HOST_ALERTS, victim, timeout=180)
    lb = lab.hosts_in("lb")[0]
    with Load(lb.address, lb.vars["preau_domain"], CA, workers=2) as load:
        wait_until(lambda: load.total >= 20, 60, "no answer through the lb")
    assert load.failed == 0, dict(load.counts)
    # its worker is back and runs nothing again: the dead host's job was sent once
    assert admin(victim).run(f"systemctl is-active {WORKER}").stdout.strip() == "active"
    assert len(mailing.delivered(marker)) == 1
