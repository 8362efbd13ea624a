"""Secrets on real hosts (issue #16, item 10): after a converge, the app's runtime user cannot
read the schema owner's password, and a release, migrations included, still works: they run
as the release step's own account, which can. Their way to the database (issue #21): TLS
verified against the internal PKI (verify-full)."""

import time
import tomllib

import pytest

from preau_ops import audit, release, runner

from .conftest import deploy, failures, run_audit, variant

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]

OWNER_FILE = "/etc/preau/owner.toml"


def admin(host):
    return audit.testinfra_host(host)


@pytest.fixture(scope="module")
def converged(lab):
    """The app hosts' accounts and configuration files as the role declares them (the whole
    platform is converged by test_20)."""
    deploy("converge", "--limit", "app", "--tags", "app-runtime", timeout=1800)
    return lab


PHASES = ("plan", "expand", "contract")  # the release's migration steps, in its sudo log


def sudo_log(host) -> str:
    """sudo's own journal lines of the last hour: who ran what as whom (its log file wraps
    long lines)."""
    return admin(host).check_output("sudo -n journalctl _COMM=sudo -o cat --no-pager --since -1h")


@pytest.fixture(scope="module")
def released(converged, tmp_path_factory):
    """The release serving now when an earlier module shipped it within the hour (its
    migration steps are in the sudo log), else a new one (a version no host has served yet),
    so that its migrations ran."""
    first = converged.hosts_in("app")[0]
    with runner.session(converged, [first]) as sessions:
        current = release.host_releases(sessions, first).current
    log = sudo_log(first)
    if current and all(f"{current}/venv/bin/preau-manage migrate_phase {p}" in log for p in PHASES):
        return current
    source = variant(tmp_path_factory.mktemp("secrets"), f"secrets-{time.time_ns()}")
    deploy("release", "--source", str(source), timeout=1200)  # fails unless every step passed
    return release.source_version(source)


def test_runtime_user_cannot_read_the_owner_password(converged):
    for host in converged.hosts_in("app"):
        remote = admin(host)
        denied = remote.run(f"sudo -n -u preau cat {OWNER_FILE}")
        assert denied.rc != 0 and "Permission denied" in denied.stderr, (host.name, denied.stderr)
        owner = tomllib.loads(remote.check_output(f"sudo -n -u preau-migrate cat {OWNER_FILE}"))
        password = owner["database_owner"]["password"]
        runtime = remote.check_output("sudo -n -u preau cat /etc/preau/preau.toml")
        leaked = "[database_owner]" in runtime or password in runtime
        assert password and not leaked, f"{host.name}: the runtime's preau.toml holds the owner"


def test_release_migrates_as_the_migrations_account(converged, released):
    first = admin(converged.hosts_in("app")[0])
    log = sudo_log(converged.hosts_in("app")[0])
    ran = [
        line.split("USER=", 1)[1]
        for line in log.splitlines()
        if f"{released}/venv/bin/preau-manage migrate_phase" in line
        and "USER=" in line
        and "COMMAND=/usr/bin/env" in line
    ]
    # every step as the migrations account; the release's three among them (a set: the version
    # may have been shipped twice within the hour, or judged by a rollback check: known, ...)
    users = {line.split()[0] for line in ran}
    phases = {line.split("migrate_phase ", 1)[1].split()[0] for line in ran}
    assert users == {"preau-migrate"}, ran
    assert {"plan", "expand", "contract"} <= phases, ran
    # the runtime user is told why it cannot migrate, and touches nothing
    refused = first.run(
        "cd /tmp && sudo -n -u preau env PREAU_DB_AS_OWNER=1 "
        "PREAU_METRICS_MULTIPROC_DIR= /srv/preau/current/venv/bin/preau-manage "
        "migrate_phase expand"
    )
    assert refused.rc != 0
    assert f"{OWNER_FILE}: permission denied (only the release step's account" in refused.stderr


# The app's own connection, made with its settings: TLS as pg_stat_ssl sees it, and the mode
TLS_OF_OWN_CONNECTION = (
    "from django.db import connection as c; cur = c.cursor(); "
    "cur.execute('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'); "
    "p = c.get_connection_params(); print(cur.fetchone()[0], p['sslmode'], p['sslrootcert'])"
)


def test_app_connects_to_postgresql_with_verified_tls(converged, released):
    """Issue #21 (internal PKI): the release's migrations and the app's connections verify
    PostgreSQL's certificate (verify-full against the PKI's bundle); every connection of the
    app's roles that pg_stat_ssl shows on the db is TLS; another CA is refused."""
    db = converged.hosts_in("db")[0]
    for host in converged.hosts_in("app"):
        seen = admin(host).check_output(
            "cd /tmp && sudo -n -u preau PREAU_METRICS_MULTIPROC_DIR= "
            "/srv/preau/current/venv/bin/preau-manage shell -c %s",
            TLS_OF_OWN_CONNECTION,
        )
        assert seen.split()[-3:] == ["True", "verify-full", "/etc/preau/pki/ca.pem"], host.name
        address = db.vars.get("preau_private_address") or db.address
        other_ca = admin(host).run(
            "psql %s -c 'SELECT 1'",
            f"host={address} dbname=preau user=preau_app sslmode=verify-full connect_timeout=5"
            " sslrootcert=/etc/ssl/certs/ca-certificates.crt",
        )
        assert other_ca.rc != 0 and "certificate verify failed" in other_ca.stderr, host.name
    plain = admin(db).check_output(
        "sudo -n -u postgres psql -XAt -c %s",
        "SELECT count(*) FILTER (WHERE ssl), count(*) FILTER (WHERE NOT ssl) FROM pg_stat_ssl "
        "JOIN pg_stat_activity USING (pid) WHERE usename LIKE 'preau%' AND client_addr IS NOT NULL",
    )
    assert plain.split("|")[1] == "0", f"app connections without TLS (with|without): {plain}"


def test_audit_catches_a_readable_owner_file(converged):
    host = converged.hosts_in("app")[-1]
    admin(host).run_test(f"sudo -n chmod 0644 {OWNER_FILE}")
    try:
        code, data = run_audit("secret-readable", "--limit", host.name, "--control", "SECRET-01")
        assert code == 1
        message = failures(data)[("SECRET-01", host.name)]
        assert f"{OWNER_FILE} (644 root:preau-migrate) is readable by preau" in message
        assert "preau can read /etc/preau/owner.toml" in message
    finally:
        deploy("converge", "--limit", host.name, "--tags", "app-runtime")
    code, data = run_audit("secret-repaired", "--limit", host.name, "--control", "SECRET-01")
    assert code == 0 and failures(data) == {}


def test_a_configuration_the_serving_release_refuses_is_not_written(converged, released):
    """A bundle newer than the serving app (a key the app does not know yet): the converge
    used to write the file and restart the app into a configuration error. The serving release
    now checks the new file first: the converge fails saying to release first, the old file
    stays, the app serves on. Here the serving release plays an older one: its config module no
    longer knows [retention] messages_days. Both edits are undone by hand (no converge)."""
    host = converged.hosts_in("app")[-1]
    remote = admin(host)
    module = remote.check_output(
        "/srv/preau/current/venv/bin/python -c 'import preau.config as c; print(c.__file__)'"
    )
    known, unknown = '"messages_days": 365', '"messages_days_unknown": 365'
    declared = remote.check_output("sudo -n sha256sum /etc/preau/preau.toml")
    remote.check_output(f"sudo -n sed -i 's/{known}/{unknown}/' {module}")
    remote.check_output("echo '# edited by hand' | sudo -n tee -a /etc/preau/preau.toml")
    edited = remote.check_output("sudo -n sha256sum /etc/preau/preau.toml")
    try:
        refused = deploy(
            "converge", "--limit", host.name, "--tags", "app-runtime", check=False, timeout=900
        )
        out = " ".join((refused.stdout + refused.stderr).split())
        assert refused.returncode == 1, out[-2000:]
        assert "the serving release refused the new file" in out, out[-2000:]
        assert "`deploy.py release` first" in out
        assert remote.check_output("sudo -n sha256sum /etc/preau/preau.toml") == edited
        assert remote.run("systemctl is-active --quiet preau.socket").rc == 0
    finally:
        remote.check_output(f"sudo -n sed -i 's/{unknown}/{known}/' {module}")
        remote.check_output("sudo -n sed -i '$d' /etc/preau/preau.toml")
    assert remote.check_output("sudo -n sha256sum /etc/preau/preau.toml") == declared
