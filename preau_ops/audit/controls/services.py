"""Service controls: TLS on the load balancers, PostgreSQL, backups, monitoring, the app, and
drift (a converge in check mode)."""

from __future__ import annotations

import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from preau_ops import monitoring_api
from preau_ops.audit.catalogue import Evidence, Options
from preau_ops.audit.remote import Remote, RemoteOf
from preau_ops.internal_tls import local_url
from preau_ops.inventory import Host, Inventory
from preau_ops.paths import STATE_DIR

from .. import declared
from .system import _nft_openings

control = pytest.mark.control

# Mozilla "intermediate" (v5.7): TLS 1.2 ciphers; TLS 1.3 suites are all acceptable.
MOZILLA_INTERMEDIATE = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
}
HSTS_MIN = 31536000  # one year (Mozilla: two)
CERT_MIN_DAYS = 14


def _domain(host: Host) -> str:
    return str(declared.var(host, "nginx_server_name") or host.vars["preau_domain"])


def _ca_file(inv: Inventory) -> str | None:
    """The CA that must have signed the public certificate: PREAU_AUDIT_CA_FILE, the lab CA,
    or the controller's trust store (None)."""
    if os.environ.get("PREAU_AUDIT_CA_FILE"):
        return os.environ["PREAU_AUDIT_CA_FILE"]
    if inv.is_lab and (STATE_DIR / "ca" / "ca.crt").exists():
        return str(STATE_DIR / "ca" / "ca.crt")
    return None


def _handshake(
    address: str, name: str, version: ssl.TLSVersion, ciphers: str | None = None
) -> tuple[str | None, str] | None:
    """(protocol, cipher) negotiated, or None when the server refuses."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers or "ALL:@SECLEVEL=0")
    try:
        with (
            socket.create_connection((address, 443), timeout=5) as sock,
            context.wrap_socket(sock, server_hostname=name) as tls,
        ):
            cipher = tls.cipher()
            return (tls.version(), cipher[0]) if cipher else None
    except (ssl.SSLError, ConnectionError, OSError):
        return None


@control(
    "TLS-01",
    "TLS protocols and ciphers at Mozilla intermediate",
    "ANSSI TLS guide; Mozilla Server Side TLS (intermediate)",
    groups=("lb",),
)
def test_tls_protocols(host: Host, evidence: Evidence) -> None:
    name = _domain(host)
    problems = []
    versions = {
        "TLSv1": ssl.TLSVersion.TLSv1,
        "TLSv1.1": ssl.TLSVersion.TLSv1_1,
        "TLSv1.2": ssl.TLSVersion.TLSv1_2,
        "TLSv1.3": ssl.TLSVersion.TLSv1_3,
    }
    accepted = [label for label, v in versions.items() if _handshake(host.address, name, v)]
    evidence(f"protocols accepted: {', '.join(accepted) or 'none'}")
    if set(accepted) - {"TLSv1.2", "TLSv1.3"}:
        problems.append(
            f"obsolete protocol accepted: {', '.join(set(accepted) - {'TLSv1.2', 'TLSv1.3'})}"
        )
    if "TLSv1.2" not in accepted:
        problems.append("TLS 1.2 refused (intermediate needs it)")
    candidates = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    candidates.set_ciphers("ALL:@SECLEVEL=0")
    tls12 = sorted({c["name"] for c in candidates.get_ciphers() if c["protocol"] == "TLSv1.2"})
    ciphers = [c for c in tls12 if _handshake(host.address, name, ssl.TLSVersion.TLSv1_2, c)]
    evidence(
        f"TLS 1.2 ciphers accepted ({len(ciphers)} of {len(tls12)} tried): " + ", ".join(ciphers)
    )
    outside = sorted(set(ciphers) - MOZILLA_INTERMEDIATE)
    if outside:
        problems.append(f"ciphers outside intermediate: {', '.join(outside)}")
    assert not problems, "; ".join(problems)


@control(
    "TLS-02",
    "HSTS on every HTTPS answer",
    "Mozilla Server Side TLS; ANSSI TLS guide",
    groups=("lb",),
)
def test_hsts(host: Host, evidence: Evidence) -> None:
    import http.client

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection(host.address, 443, timeout=10, context=context)
    connection.request("GET", "/", headers={"Host": _domain(host)})
    answer = connection.getresponse()
    hsts = answer.getheader("Strict-Transport-Security") or ""
    connection.close()
    evidence(
        f"GET https://{_domain(host)}/ → {answer.status}; Strict-Transport-Security: "
        f"{hsts or '(absent)'}"
    )
    age = re.search(r"max-age=(\d+)", hsts)
    assert age and int(age.group(1)) >= HSTS_MIN, (
        f"HSTS max-age {age.group(1) if age else 'absent'} < {HSTS_MIN}"
    )


@control(
    "TLS-03",
    f"Certificate trusted, matching the name, valid ≥ {CERT_MIN_DAYS} days",
    "ANSSI TLS guide (R: certificate validity); declared preau_domain",
    groups=("lb",),
)
def test_certificate(inv: Inventory, host: Host, evidence: Evidence) -> None:
    from cryptography import x509

    name = _domain(host)
    ca = _ca_file(inv)
    context = ssl.create_default_context(cafile=ca)
    evidence(f"trust: {ca or 'system store'}; name: {name}")
    plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    plain.check_hostname, plain.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection((host.address, 443), timeout=5) as sock,
        plain.wrap_socket(sock, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der, f"{host.address}:443 presented no certificate"
        cert = x509.load_der_x509_certificate(der)
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    evidence(
        f"subject {cert.subject.rfc4514_string()}; expires "
        f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC ({left.days} days left)"
    )
    problems = []
    try:
        with (
            socket.create_connection((host.address, 443), timeout=5) as sock,
            context.wrap_socket(sock, server_hostname=name),
        ):
            pass
    except ssl.SSLCertVerificationError as exc:
        problems.append(f"certificate not valid for {name}: {exc.verify_message}")
    if left < datetime.timedelta(days=CERT_MIN_DAYS):
        problems.append(
            f"certificate expires in {left.days} days "
            f"({cert.not_valid_after_utc:%Y-%m-%d}), less than {CERT_MIN_DAYS}"
        )
    assert not problems, "; ".join(problems)


# ------------------------------------------------------------------------------ PostgreSQL


@control(
    "PG-01",
    "PostgreSQL reachable only from the app and backup hosts",
    "ANSSI-BP-028 R80; docs/contracts.md ports",
    groups=("db",),
)
def test_postgresql_reach(
    inv: Inventory, host: Host, remote: Remote, remote_of: RemoteOf, evidence: Evidence
) -> None:
    port = int(declared.var(host, "postgresql_port", 5432))
    address = host.private_address  # where PostgreSQL listens (with loopback)
    clients = {h.private_address for g in ("app", "backup") for h in inv.hosts_in(g)} - {address}
    ruleset = remote.root_out("/usr/sbin/nft list ruleset")
    assert ruleset is not None, "sudo refused `nft list ruleset`"
    _, openings = _nft_openings(ruleset)
    allowed = openings.get(("tcp", port), set())
    evidence(
        f"firewall {port}/tcp from: "
        f"{'everyone' if allowed is None else ', '.join(sorted(allowed)) or 'nobody'}"
    )
    problems = []
    if allowed is None or allowed - clients:
        problems.append(
            f"{port}/tcp open to {sorted(allowed - clients) if allowed else 'everyone'}"
            f" beyond the app/backup hosts {sorted(clients)}"
        )
    # A dropped connection waits out its 3 s: the controller and every other host probe at
    # once (one wait in all instead of one a probe).
    others = [h for h in inv.hosts.values() if not {"app", "backup", "db"} & set(h.groups)]
    probe = f"timeout 3 bash -c '</dev/tcp/{address}/{port}'"
    with ThreadPoolExecutor(max_workers=len(others) + 1) as pool:
        here = pool.submit(subprocess.run, ["bash", "-c", probe], capture_output=True, check=False)
        there = {other.name: pool.submit(remote_of(other).run, probe) for other in others}
        opened = {"the controller": here.result().returncode == 0}
        opened.update({name: result.result().rc == 0 for name, result in there.items()})
    for name, rc_zero in opened.items():
        evidence(f"from {name}: {'open' if rc_zero else 'refused/dropped'}")
    if opened.pop("the controller"):
        problems.append(f"{address}:{port} answers the controller")
    problems += [f"{name} reaches {address}:{port}" for name, is_open in opened.items() if is_open]
    assert not problems, "; ".join(problems)


@control(
    "PG-02",
    "PostgreSQL authenticates with scram-sha-256 only",
    "ANSSI PostgreSQL recommendations; declared state (role postgresql)",
    groups=("db",),
)
def test_postgresql_scram(host: Host, remote: Remote, evidence: Evidence) -> None:
    version = declared.var(host, "postgresql_version", 15)
    hba = remote.read(f"/etc/postgresql/{version}/main/pg_hba.conf")
    assert hba is not None, "sudo refused `cat pg_hba.conf`"
    lines = [row.split() for row in hba.splitlines() if row.strip() and not row.startswith("#")]
    network = [fields for fields in lines if fields[0].startswith("host")]
    methods = sorted({f[-1] if "=" not in f[-1] else f[-2] for f in network})
    evidence(f"pg_hba.conf: {len(network)} network lines, methods {', '.join(methods)}")
    problems = [
        f"pg_hba line `{' '.join(f)}` uses {f[-1]}"
        for f in network
        if not ({"scram-sha-256", "reject"} & set(f))
    ]
    problems += [
        f"pg_hba line `{' '.join(f)}` is not hostssl"
        for f in network
        if f[0] in ("host", "hostnossl") and "reject" not in f and not _loopback_address(f[3])
    ]
    conf = remote.run(
        f"cat /etc/postgresql/{version}/main/postgresql.conf "
        f"/etc/postgresql/{version}/main/conf.d/*.conf 2>/dev/null"
    ).stdout
    encryption = re.findall(r"^\s*password_encryption\s*=\s*'?([\w-]+)", conf, re.M)
    evidence(f"password_encryption: {encryption[-1] if encryption else 'scram-sha-256 (default)'}")
    if encryption and encryption[-1] != "scram-sha-256":
        problems.append(f"password_encryption is {encryption[-1]}")
    assert not problems, "; ".join(problems)


@control(
    "PG-03",
    "The app's runtime role is not a superuser",
    "Declared state (role postgresql: DML only); least privilege",
    groups=("db",),
)
def test_postgresql_roles(host: Host, remote: Remote, evidence: Evidence, options: Options) -> None:
    query = (
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
        "WHERE rolname IN ('preau_app', 'preau_owner') ORDER BY 1"
    )
    result = remote.run(f'psql -XAt -F" " -d postgres -c "{query}"')
    if result.rc != 0 and not options["as_auditor"]:
        result = remote.run(f'sudo -n -u postgres psql -XAt -F" " -d postgres -c "{query}"')
    if result.rc != 0:
        pytest.skip(
            "no read-only PostgreSQL access for the auditor (needs a `auditor` login "
            "role in pg_monitor with peer authentication, see the report)"
        )
    rows = [row.split() for row in result.stdout.splitlines() if row.strip()]
    problems = []
    for name, superuser, createrole, createdb in rows:
        evidence(f"{name}: superuser={superuser} createrole={createrole} createdb={createdb}")
        if name == "preau_app" and "t" in (superuser, createrole, createdb):
            problems.append(
                f"preau_app has privileges: super={superuser} "
                f"createrole={createrole} createdb={createdb}"
            )
        if name == "preau_owner" and superuser == "t":
            problems.append("preau_owner is a superuser")
    if "preau_app" not in {r[0] for r in rows}:
        problems.append("role preau_app not found")
    assert not problems, "; ".join(problems)


# ------------------------------------------------------------------------------ backups


def _loopback_address(text: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_network(text, strict=False).network_address.is_loopback
    except ValueError:
        return text in ("localhost", "samehost")


def _textfile_metrics(remote: Remote) -> dict[str, float]:
    text = remote.run("cat /var/lib/prometheus/node-exporter/preau_*.prom 2>/dev/null").stdout
    metrics = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            metrics[key] = float(value)
    return metrics


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _backup_age(remote: Remote, evidence: Evidence, kind: str, limit: float) -> None:
    metrics = _textfile_metrics(remote)
    labels = f'{{kind="{kind}",type="database"}}'
    success = metrics.get(f"preau_backup_last_success_timestamp_seconds{labels}")
    status = metrics.get(f"preau_backup_last_exit_status{labels}")
    assert success is not None, (
        f"no successful {kind} backup recorded "
        f"(preau_backup_last_success_timestamp_seconds{labels})"
    )
    age = time.time() - success
    evidence(
        f"last {kind} backup succeeded {_age(age)} ago "
        f"({time.strftime('%Y-%m-%d %H:%M', time.localtime(success))}); "
        f"last run exit status {status:.0f}"
    )
    problems = []
    if age > limit:
        problems.append(f"last {kind} backup is {_age(age)} old (limit {_age(limit)})")
    if status:
        problems.append(f"the last {kind} backup run failed (exit status {status:.0f})")
    assert not problems, "; ".join(problems)


@control(
    "BKP-01",
    "Last full backup ≤ 8 days",
    "RGPD art. 32-1-c (availability restored in time): backup policy (role backup)",
    groups=("backup",),
)
def test_backup_full(host: Host, remote: Remote, evidence: Evidence) -> None:
    _backup_age(remote, evidence, "full", 8 * 86400)


@control(
    "BKP-02",
    "Last differential backup ≤ 26 h",
    "RGPD art. 32-1-c (availability restored in time): backup policy (role backup)",
    groups=("backup",),
)
def test_backup_diff(host: Host, remote: Remote, evidence: Evidence) -> None:
    metrics = _textfile_metrics(remote)
    full = metrics.get(
        'preau_backup_last_success_timestamp_seconds{kind="full",type="database"}', 0
    )
    diff = metrics.get(
        'preau_backup_last_success_timestamp_seconds{kind="diff",type="database"}', 0
    )
    if full > diff and time.time() - full <= 26 * 3600:
        evidence(f"a full backup {_age(time.time() - full)} ago stands for the differential")
        return
    _backup_age(remote, evidence, "diff", 26 * 3600)


@control(
    "BKP-03",
    "WAL archiving current (≤ 5 min behind)",
    "RGPD art. 32-1-c: the backup policy's RPO (role backup)",
    groups=("db",),
)
def test_wal_archiving(
    inv: Inventory, host: Host, remote: Remote, remote_of: RemoteOf, evidence: Evidence
) -> None:
    monitoring = inv.hosts_in("monitoring")
    problems = []
    age = failed = None
    if monitoring:
        answer = _prometheus(
            monitoring[0],
            remote_of(monitoring[0]),
            f'pg_stat_archiver_last_archive_age{{instance="{host.name}"}}',
        )
        age = float(answer[0]["value"][1]) if answer else None
        failed_answer = _prometheus(
            monitoring[0],
            remote_of(monitoring[0]),
            f'increase(pg_stat_archiver_failed_count{{instance="{host.name}"}}[15m])',
        )
        failed = float(failed_answer[0]["value"][1]) if failed_answer else None
    if age is not None:
        evidence(f"last WAL segment archived {_age(age)} ago (pg_stat_archiver)")
    if failed:
        problems.append(f"{failed:.0f} archiving failure(s) in the last 15 min")
    if age is not None and age <= 300:
        assert not problems, "; ".join(problems)
        return
    status = (
        f"/var/lib/postgresql/{declared.var(host, 'postgresql_version')}/main/pg_wal/archive_status"
    )
    pending = remote.root_out(f"/usr/bin/find {status} -name *.ready -mmin +5")
    if pending is None:
        assert not problems, "; ".join(problems)
        pytest.skip(
            "last archive older than 5 min (idle database?) and the WAL waiting for "
            "archiving is not visible to the auditor (needs the sudo rule "
            f"`/usr/bin/find {status} -name *.ready -mmin +5`)"
        )
    waiting = pending.split()
    evidence(
        f"WAL segments waiting for archiving for more than 5 min: {len(waiting)}"
        + (" (idle database: nothing to archive)" if not waiting else "")
    )
    if waiting:
        problems.append(
            f"{len(waiting)} WAL segment(s) not archived after 5 min: "
            + ", ".join(w.rsplit("/", 1)[-1] for w in waiting[:3])
        )
    assert not problems, "; ".join(problems)


@control(
    "BKP-04",
    "Last restore drill passed ≤ 26 h ago",
    "RGPD art. 32-1-d (measures tested regularly): restore drill (role backup)",
    groups=("backup",),
)
def test_restore_drill(host: Host, remote: Remote, evidence: Evidence) -> None:
    metrics = _textfile_metrics(remote)
    ok = metrics.get('preau_restore_drill_success{stanza="preau"}')
    last = metrics.get('preau_restore_drill_last_success_timestamp_seconds{stanza="preau"}')
    rto = metrics.get('preau_restore_drill_duration_seconds{stanza="preau"}')
    assert last is not None, "no restore drill recorded (preau_restore_drill_* metrics)"
    age = time.time() - last
    evidence(
        f"last drill passed {_age(age)} ago, RTO {rto:.0f} s; last run "
        f"{'passed' if ok else 'FAILED'}"
    )
    problems = []
    if not ok:
        problems.append("the last restore drill failed")
    if age > 26 * 3600:
        problems.append(f"last passed drill is {_age(age)} old (limit 26 h)")
    assert not problems, "; ".join(problems)


WAL_CHECK_LIMIT = 3600  # the check runs every 15 min (role backup: backup_archive_check_schedule)


def wal_check_problems(metrics: dict[str, float], now: float) -> tuple[str, list[str]]:
    """(evidence, problems) of the repository's side of WAL archiving (`preau-backup
    archive-check`'s metrics): the last check passed, and not more than an hour ago. BKP-03's
    pg_stat_archiver cannot tell: past its queue limit pgBackRest drops WAL and reports it
    archived."""
    ok = metrics.get('preau_wal_archive_check_success{stanza="preau"}')
    last = metrics.get('preau_wal_archive_check_last_success_timestamp_seconds{stanza="preau"}')
    if last is None:
        return "no WAL archive check recorded", [
            "no check ever saw WAL reach the repository (preau_wal_archive_check_* metrics; "
            "timer preau-wal-archive-check)"
        ]
    age = now - last
    said = f"WAL last seen reaching the repository {_age(age)} ago; last check " + (
        "passed" if ok else "FAILED"
    )
    problems = []
    if not ok:
        problems.append("the last check did not see WAL reach the repository")
    if age > WAL_CHECK_LIMIT:
        problems.append(f"WAL last seen reaching the repository {_age(age)} ago (limit 1 h)")
    return said, problems


@control(
    "BKP-08",
    "WAL seen reaching the repository ≤ 1 h ago",
    "RGPD art. 32-1-c: the backup policy's RPO; issue #22 item 4 (a dead repository drops WAL "
    "past the db host's queue limit: role backup, `preau-backup archive-check`)",
    groups=("backup",),
)
def test_wal_reaches_the_repository(host: Host, remote: Remote, evidence: Evidence) -> None:
    said, problems = wal_check_problems(_textfile_metrics(remote), time.time())
    evidence(said)
    assert not problems, "; ".join(problems)


@control(
    "BKP-05",
    "Database backups encrypted in their repository",
    "RGPD art. 32-1-a (encryption); the hosting contract's backups "
    "(role backup: repo1-cipher-type)",
    groups=("backup",),
)
def test_backups_encrypted(host: Host, remote: Remote, evidence: Evidence) -> None:
    out = remote.root_out("/usr/bin/pgbackrest info --output=json")
    assert out is not None, "sudo refused `pgbackrest info --output=json` (role base's rule)"
    stanzas = json.loads(out)
    assert stanzas, "pgBackRest knows no stanza on this host"
    problems = []
    for stanza in stanzas:
        cipher = stanza.get("cipher", "none")
        evidence(
            f"stanza {stanza.get('name')}: cipher {cipher}, "
            f"{len(stanza.get('backup', []))} backup(s) stored"
        )
        if cipher == "none":
            problems.append(f"stanza {stanza.get('name')} is stored in clear (cipher none)")
    assert not problems, "; ".join(problems)


def _forced_keys(authorized_keys: str) -> list[tuple[str, list[str], bool]]:
    """(name, words of its forced command, restricted) of each key of an authorized_keys file."""
    keys = []
    for raw in authorized_keys.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        forced = re.match(r'command="([^"]*)"', line)
        key = re.search(r"(?:^|\s)(?:ssh|ecdsa|sk)-\S+\s+(\S+)\s*(.*)$", line)
        options = line[: key.start()] if key else ""
        name = (key.group(2) or key.group(1)[:16] + "…") if key else line[:40]
        restricted = "restrict" in re.sub(r'"[^"]*"', "", options).split(",")
        keys.append((name, forced.group(1).split() if forced else [], restricted))
    return keys


def borg_key_problems(authorized_keys: str) -> tuple[int, list[str]]:
    """(keys, problems) of the borg repositories' authorized_keys: every key must be forced to
    `borg serve --append-only --restrict-to-path …` (a client may add archives, never delete)."""
    keys = _forced_keys(authorized_keys)
    problems = []
    for name, words, _ in keys:
        if words[:2] != ["borg", "serve"] or "--append-only" not in words:
            problems.append(f"key {name!r} is not forced to `borg serve --append-only`")
        elif "--restrict-to-path" not in words:
            problems.append(f"key {name!r} is not restricted to its repository")
    return len(keys), problems


def pgbackrest_key_problems(authorized_keys: str, command: str, role: str) -> tuple[int, list[str]]:
    """(keys, problems) of a pgBackRest account's authorized_keys (the repository user's: ROLE
    repo; postgres': pg): every key forced to `COMMAND ROLE` (role backup's
    preau-pgbackrest-remote) and restricted (no shell, no forwarding), so a compromised peer can
    only speak pgBackRest's protocol."""
    keys = _forced_keys(authorized_keys)
    problems = []
    for name, words, restricted in keys:
        if words != [command, role]:
            problems.append(f"key {name!r} is not forced to `{command} {role}`")
        elif not restricted:
            problems.append(f"key {name!r} is not restricted (restrict: no forwarding, no pty)")
    return len(keys), problems


def _authorized_keys(remote: Remote, path: str, evidence: Evidence, absent: str) -> str | None:
    """An authorized_keys file's text, None (said in the evidence: ABSENT) when there is none;
    the control is skipped when the auditor may not read it."""
    try:
        text = remote.read(path)
    except FileNotFoundError:
        evidence(f"{path}: absent ({absent})")
        return None
    if text is None:
        pytest.skip(f"{path} is not readable by the auditor (base_auditor_readable_files)")
    return text


@control(
    "BKP-06",
    "Borg clients may only append to their files backups",
    "issue #22 item 4: a compromised host cannot delete its backups "
    "(role backup: `borg serve --append-only`, expiry on the backup host)",
    groups=("backup",),
)
def test_borg_clients_append_only(host: Host, remote: Remote, evidence: Evidence) -> None:
    path = f"{declared.var(host, 'backup_borg_repo_root')}/.ssh/authorized_keys"
    text = _authorized_keys(remote, path, evidence, "no borg client reaches this host over SSH")
    if text is None:
        return
    keys, problems = borg_key_problems(text)
    evidence(f"{path}: {keys} key(s), {keys - len(problems)} forced to append-only")
    assert not problems, "; ".join(problems)


@control(
    "BKP-07",
    "pgBackRest's SSH keys may only run pgBackRest's remote end",
    "issue #22 item 4: a compromised db host cannot delete the backups, a compromised backup host "
    "cannot run commands as postgres (role backup: forced command preau-pgbackrest-remote)",
    groups=("backup", "db"),
)
def test_pgbackrest_keys_forced(host: Host, remote: Remote, evidence: Evidence) -> None:
    accounts = []
    if declared.in_groups(host, ("backup",)):
        home = declared.var(host, "backup_repo_path", "/var/lib/pgbackrest")
        accounts.append((f"{home}/.ssh/authorized_keys", "repo"))
    if declared.in_groups(host, ("db",)):
        accounts.append(("/var/lib/postgresql/.ssh/authorized_keys", "pg"))
    command = declared.var(host, "backup__pgbackrest_remote")
    problems = []
    for path, role in accounts:
        text = _authorized_keys(
            remote, path, evidence, "no pgBackRest peer logs in as this account"
        )
        if text is None:
            continue
        keys, found = pgbackrest_key_problems(text, command, role)
        evidence(f"{path}: {keys} key(s), {keys - len(found)} forced to the {role} remote end")
        problems += found
    assert not problems, "; ".join(problems)


# ------------------------------------------------------------------------------ monitoring


def _prometheus(
    monitoring: Host, remote: Remote, query: str | None = None, path: str = "/api/v1/query"
) -> Any:
    """Prometheus API answer's `data`, asked on the monitoring host itself over TLS with the
    operators' credentials (preau-monitoring-api through sudo: the auditor's rule allows it)."""
    import urllib.parse

    if query is not None:
        path += "?query=" + urllib.parse.quote(query)
    ask = monitoring_api.command(monitoring_api.PROMETHEUS, path)
    out = remote.root_out(ask)
    assert out is not None, f"{monitoring.name}: sudo refuses `{ask}` (role base's auditor rule)"
    data = json.loads(out)["data"]
    return data.get("result", data) if isinstance(data, dict) and "result" in data else data


@control(
    "MON-01",
    "Every Prometheus target is up",
    "Declared state (role monitoring)",
    groups=("monitoring",),
)
def test_targets_up(host: Host, remote: Remote, evidence: Evidence) -> None:
    targets = _prometheus(host, remote, path="/api/v1/targets?state=active")["activeTargets"]
    down = [t for t in targets if t["health"] != "up"]
    evidence(f"{len(targets) - len(down)}/{len(targets)} targets up")
    assert not down, "; ".join(
        f"{t['labels'].get('job')}/{t['labels'].get('instance')} is "
        f"{t['health']}: {t.get('lastError', '')}"
        for t in down
    )


@control(
    "MON-02", "No critical alert firing", "Declared state (role monitoring)", groups=("monitoring",)
)
def test_no_critical_alert(host: Host, remote: Remote, evidence: Evidence) -> None:
    alerts = _prometheus(host, remote, path="/api/v1/alerts")["alerts"]
    firing = [a for a in alerts if a["state"] == "firing"]
    critical = [a for a in firing if a["labels"].get("severity") == "critical"]
    evidence(
        f"{len(firing)} alert(s) firing, {len(critical)} critical"
        + (": " + ", ".join(a["labels"]["alertname"] for a in firing) if firing else "")
    )
    assert not critical, "critical alerts firing: " + ", ".join(
        f"{a['labels']['alertname']} ({a['labels'].get('instance', '')})" for a in critical
    )


# ------------------------------------------------------------------------------ app


@control(
    "APP-01", "The same release on every app host", "Declared state (release)", groups=("app",)
)
def test_same_release(
    inv: Inventory, host: Host, remote: Remote, remote_of: RemoteOf, evidence: Evidence
) -> None:
    mine = remote.out("readlink /srv/preau/current").strip()
    evidence(f"{host.name}: {mine}")
    others = {
        h.name: remote_of(h).out("readlink /srv/preau/current").strip()
        for h in inv.hosts_in("app")
        if h.name != host.name
    }
    for name, release in others.items():
        evidence(f"{name}: {release}")
    different = {n: r for n, r in others.items() if r != mine}
    assert mine and not different, f"{host.name} serves {mine}, " + ", ".join(
        f"{n} serves {r}" for n, r in different.items()
    )


@control("APP-02", "/readyz answers ok", "Declared state (app)", groups=("app",))
def test_readyz(host: Host, remote: Remote, evidence: Evidence) -> None:
    port = int(declared.var(host, "app_port", 8000))
    result = remote.run(
        f"curl -s --max-time 10 -w '\\n%{{http_code}}' -H 'Host: "
        f"{host.vars['preau_domain']}' {local_url(host.name, port, '/readyz')}"
    )
    body, _, code = result.stdout.rpartition("\n")
    evidence(f"GET /readyz → {code}: {body[:200]}")
    assert code == "200", f"/readyz answered {code or 'nothing'}: {body[:200]}"


@control(
    "APP-03",
    "App units hardened (systemd exposure ≤ 2.0)",
    "ANSSI-BP-028 R64 (services confinement)",
    groups=("app",),
)
def test_unit_hardening(host: Host, remote: Remote, evidence: Evidence) -> None:
    out = remote.root_out("/usr/bin/systemd-analyze security preau.service")
    assert out is not None, "sudo refused `systemd-analyze security preau.service`"
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
    assert match, "no exposure level in systemd-analyze's output"
    evidence(f"preau.service exposure {match.group(1)}")
    assert float(match.group(1)) <= 2.0, f"preau.service exposure {match.group(1)} > 2.0"
