"""App role after side_effect.yml installed a stand-in release and converge ran again."""

import threading
import tomllib

URL = "https://127.0.0.1:8000/healthz"
# gunicorn's certificate verified against the internal CA, as the lb and Prometheus do
CONTEXT = "ssl.create_default_context(cafile='/etc/preau/pki/ca.pem')"


def get(host, url=URL):
    return host.run(
        "python3 -c %s",
        "import ssl, urllib.request; print(urllib.request.urlopen("
        f"'{url}', timeout=10, context={CONTEXT}).read().decode())",
    )


def test_user_and_layout(host):
    user = host.user("preau")
    assert user.group == "preau" and user.shell == "/usr/sbin/nologin"
    for path, owner, group, mode in [
        ("/srv/preau/releases", "root", "root", 0o755),
        ("/srv/preau/shared", "root", "preau", 0o750),
        ("/srv/preau/shared/media", "preau", "preau", 0o750),
        ("/srv/preau/shared/archives", "preau", "preau", 0o750),
        ("/srv/preau/shared/aaf", "preau", "preau", 0o750),
        ("/etc/preau", "root", "preau", 0o751),  # /etc/preau/pki reachable, not listed
        ("/etc/preau/preau.toml", "root", "preau", 0o640),
        ("/etc/preau/owner.toml", "root", "preau-migrate", 0o640),
    ]:
        f = host.file(path)
        assert (f.user, f.group, f.mode) == (owner, group, mode), path


def test_owner_password_readable_by_the_migrations_account_only(host):
    """The schema owner's password: the release step's account reads it, the runtime cannot."""
    migrate = host.user("preau-migrate")
    assert migrate.shell == "/usr/sbin/nologin" and set(migrate.groups) == {
        "preau-migrate",
        "preau",
    }
    assert "preau-migrate" not in host.user("preau").groups
    denied = host.run("runuser -u preau -- cat /etc/preau/owner.toml")
    assert denied.rc != 0 and "Permission denied" in denied.stderr
    owner = tomllib.loads(
        host.check_output("runuser -u preau-migrate -- cat /etc/preau/owner.toml")
    )
    assert owner == {
        "database_owner": {"user": "preau_owner", "password": 'owner-secret-"molecule"'}
    }
    runtime = host.check_output("runuser -u preau -- cat /etc/preau/preau.toml")
    assert "owner-secret" not in runtime and "preau_owner" not in runtime


def test_config_file_is_the_contract(host):
    config = tomllib.loads(host.file("/etc/preau/preau.toml").content_string)
    assert set(config) == {
        "django",
        "database",
        "storage",
        "retention",
        "metrics",
        "jobs",
        "email",
        "security",
        "uploads",
        "antivirus",
        "aaf",
    }
    # closing an establishment and the AAF's deltas (issue #27): where the jobs write, kept
    assert config["storage"]["archive_root"] == "/srv/preau/shared/archives"
    assert config["retention"]["closed_purge_after_days"] == 30
    # the console's usage statistics (issue #19): the app's defaults, written by the role
    assert config["retention"]["usage_raw_days"] == 7
    assert config["retention"]["usage_stats_months"] == 13
    assert config["aaf"] == {"drop_dir": "/srv/preau/shared/aaf", "max_removal_percent": 10}
    assert config["email"]["enabled"] is False  # notification e-mails are opt-in
    assert config["email"]["site_url"] == "https://ent.preau.test"
    assert config["django"] == {
        "secret_key": "django-secret-molecule",
        "debug": False,
        "allowed_hosts": ["ent.preau.test", "app-web", "172.30.93.10"],
    }
    assert config["database"]["host"] == "172.30.93.10"
    assert config["database"]["sslmode"] == "verify-full"
    assert config["database"]["sslrootcert"] == "/etc/preau/pki/ca.pem"
    assert config["metrics"]["multiproc_dir"] == "/run/preau/metrics"
    # the app's defaults, written
    assert config["jobs"] == {
        "stalled_after_seconds": 60,
        "heavy_memory_mb": 512,
        "heavy_timeout_seconds": 900,
    }


def test_units_enabled_after_release(host):
    for unit in ("preau.socket", "preau.service", "preau-worker.service"):
        assert host.service(unit).is_enabled, unit
        assert host.service(unit).is_running, unit
    # the private address and loopback (preau.socket), never every address
    assert host.socket("tcp://172.30.93.10:8000").is_listening
    assert host.socket("tcp://127.0.0.1:8000").is_listening
    assert not host.socket("tcp://0.0.0.0:8000").is_listening
    out = get(host).stdout
    assert out.startswith("ok ") and "/etc/preau/preau.toml" in out
    assert host.file("/run/preau/metrics").is_directory
    assert host.process.filter(user="preau", comm="gunicorn")


def test_tls_only_with_the_host_certificate(host):
    """gunicorn serves the pki role's certificate, its key read through group preau-tls
    under the unit's sandbox; plain HTTP gets no page."""
    assert "preau-tls" in host.user("preau").groups
    unit = host.check_output("systemctl cat preau.service")
    assert "--certfile /etc/preau/pki/host.crt --keyfile /etc/preau/pki/host.key" in unit
    plain = get(host, URL.replace("https:", "http:"))
    assert plain.rc != 0 and "ok " not in plain.stdout


def test_service_exposure_at_most_2(host):
    line = host.check_output("systemd-analyze security preau.service | tail -n 1")
    exposure = float(line.split("exposure level for preau.service:")[1].split()[0])
    assert exposure <= 2.0, line


def test_restart_drops_no_connection(host):
    """Requests sent while the service restarts wait in the socket's queue."""
    pid_before = get(host).stdout.split()[1]
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(host).rc)) for _ in range(5)]
    host.run_test("systemctl restart --no-block preau.service")
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0] * 5
    assert get(host).stdout.split()[1] != pid_before


def test_one_job_worker_runs_as_the_app_user_and_no_job_timer_is_left(host):
    """The job queue's worker (preau-manage jobs worker) as the app's user, as sandboxed as the
    web service; the per-host timers the queue replaced are gone."""
    assert "preau-manage jobs worker" in host.check_output(
        "journalctl -u preau-worker.service --no-pager"
    )
    assert host.process.filter(user="preau", comm="sleep")  # the stand-in worker
    unit = host.check_output("systemctl cat preau-worker.service")
    assert "TimeoutStopSec=300" in unit and "Restart=always" in unit
    line = host.check_output("systemd-analyze security preau-worker.service | tail -n 1")
    assert float(line.split("exposure level for preau-worker.service:")[1].split()[0]) <= 2.0
    # where its jobs write (issue #27: a closed establishment's archive bundle, the applied AAF
    # deliveries moved to done/), and nowhere else: the rest is read-only (ProtectSystem=strict)
    writable = host.check_output("systemctl show -p ReadWritePaths --value preau-worker.service")
    assert set(writable.split()) == {
        "/srv/preau/shared/media",
        "/srv/preau/shared/archives",
        "/srv/preau/shared/aaf",
    }
    # no unit file matching: systemctl lists nothing (and exits 1, hence run, not check_output)
    timers = host.run("systemctl list-unit-files 'preau-*.timer' --no-legend")
    assert timers.stdout.strip() == "", timers.stdout


# clamd's INSTREAM, as the app (preau.ent.antivirus) sends it, run on the host as the app's user.
SCAN = """
import socket, struct, sys
data = sys.argv[1].encode() + b"\\n"
with socket.socket(socket.AF_UNIX) as sock:
    sock.settimeout(30)
    sock.connect(sys.argv[2])
    sock.sendall(b"zINSTREAM\\0" + struct.pack("!L", len(data)) + data + struct.pack("!L", 0))
    print(sock.recv(4096).rstrip(b"\\0").decode())
"""


def test_clamd_scans_uploads_with_the_local_signature_and_freshclam_never_runs(host):
    config = tomllib.loads(host.file("/etc/preau/preau.toml").content_string)
    assert config["antivirus"] == {"clamd_socket": "/run/clamav/clamd.ctl", "timeout_seconds": 30}
    assert config["uploads"]["max_file_mb"] == 10 and config["uploads"]["user_quota_mb"] == 200
    for unit in ("clamav-daemon.socket", "clamav-daemon.service"):
        assert host.service(unit).is_enabled and host.service(unit).is_running, unit
    assert host.run("systemctl is-enabled clamav-freshclam.service").stdout.strip() == "masked"
    assert not host.process.filter(comm="freshclam")
    assert "StreamMaxLength 11M" in host.file("/etc/clamav/clamd.conf").content_string

    def scan(content):
        return host.check_output(
            "runuser -u preau -- python3 -c %s %s %s",
            SCAN,
            content,
            config["antivirus"]["clamd_socket"],
        )

    assert (
        scan("PREAU-MOLECULE-TEST-MALWARE")
        == "stream: Preau.Molecule.Test.Malware.UNOFFICIAL FOUND"
    )
    assert scan("un devoir de mathematiques") == "stream: OK"
