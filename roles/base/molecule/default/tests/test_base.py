"""Behaviour of the base role on two hosts: base-app (group app, Debian 12) and base-lb (group
lb, Debian 13): every test below holds on both releases."""

import time

import pytest

APP_IP, LB_IP = "172.30.91.10", "172.30.91.11"


def can_connect(host, address, port):
    """True when a TCP connection from `host` to address:port succeeds within 2 s."""
    code = (
        "import socket,sys\n"
        "try: socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)\n"
        "except OSError: sys.exit(1)\n"
    )
    return host.run("python3 -c %s %s %s", code, address, str(port)).rc == 0


def serving(host, ports):
    """Throwaway TCP listeners on `host` while the fixture lasts."""
    for port in ports:
        host.run_test("systemd-run --unit=probe-%s python3 -m http.server %s", str(port), str(port))
    time.sleep(1)
    yield
    for port in ports:
        host.run("systemctl stop probe-%s", str(port))


def test_the_hosts_run_debian_12_and_13(app, lb):
    """The scenario proves the role on both releases only while its platforms run them."""
    assert (app.system_info.distribution, app.system_info.codename) == ("debian", "bookworm")
    assert (lb.system_info.distribution, lb.system_info.codename) == ("debian", "trixie")


@pytest.fixture(scope="module")
def listeners(app):
    """On the app host: 8000 (opened to lb) and 9999 (closed)."""
    yield from serving(app, (8000, 9999))


def test_firewall_opens_app_port_to_lb_only(app, lb, listeners):
    assert can_connect(lb, APP_IP, 8000)
    assert not can_connect(lb, APP_IP, 9999)
    assert app.run("nft list chain inet preau_filter input").stdout.count("dport 8000") == 1


def test_firewall_default_deny_and_group_rules(app, lb):
    app_rules = app.check_output("nft list ruleset")
    lb_rules = lb.check_output("nft list ruleset")
    assert "policy drop" in app_rules
    assert f"ip saddr {LB_IP} tcp dport 8000 accept" in app_rules
    assert "tcp dport { 80, 443 } accept" in lb_rules
    assert "dport 5432" not in app_rules + lb_rules  # no db host in this inventory
    assert "ip saddr 172.30.91.0/24 tcp dport 22 accept" in app_rules
    assert not can_connect(app, LB_IP, 8000)


@pytest.fixture(scope="module")
def lb_listeners(lb):
    """On the lb host: 8080 (open to the app group) and 9999 (to everyone)."""
    yield from serving(lb, (8080, 9999))


def test_egress_the_app_host_reaches_what_other_hosts_open_to_it_only(app, lb, lb_listeners):
    assert can_connect(app, LB_IP, 8080)  # declared: lb opens it to the app group
    assert not can_connect(app, LB_IP, 9999)  # lb accepts everyone there, app's output drops
    assert can_connect(lb, LB_IP, 9999)  # (the listener answers)
    app_output = app.check_output("nft list chain inet preau_filter output")
    assert "policy drop" in app_output and f"ip daddr {LB_IP} tcp dport 8080 accept" in app_output
    assert "policy accept" in lb.check_output("nft list chain inet preau_filter output")


def test_sshd_hardened(app):
    config = app.check_output("sshd -T")
    for line in (
        "passwordauthentication no",
        "permitrootlogin no",
        "kbdinteractiveauthentication no",
        "x11forwarding no",
        "allowgroups preau-admin",
        "allowgroups auditor",
        "ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com",
    ):
        assert line in config
    assert "diffie-hellman-group14-sha1" not in config
    assert app.service("ssh").is_running


def test_admin_users(app):
    alice = app.user("alice")
    assert alice.exists and "preau-admin" in alice.groups
    assert "alice@molecule" in app.file("/home/alice/.ssh/authorized_keys").content_string
    assert "deploy@molecule" in app.file("/home/deploy/.ssh/authorized_keys").content_string
    assert not app.user("mallory").exists
    assert app.run("runuser -u alice -- sudo -n true").rc == 0


def test_admin_sudo_acts_as_root_and_the_service_accounts_only(app):
    def alice(command):
        return app.run(f"runuser -u alice -- sudo -n {command}").rc

    app.run("id preau-migrate || useradd --system --no-create-home preau-migrate")
    assert alice("true") == 0  # root: any command (Ansible's become needs it)
    assert alice("-u preau-migrate true") == 0  # a declared service account
    assert alice("-u nobody true") != 0  # any other user refused
    assert alice("-g adm true") != 0  # and any group
    assert "Defaults:%preau-admin !requiretty" in app.check_output("cat /etc/sudoers.d/preau")


def test_auditor_is_read_only(app):
    auditor = app.user("auditor")
    assert "adm" in auditor.groups and "preau-admin" not in auditor.groups
    assert app.run("runuser -u auditor -- sudo -n /usr/sbin/nft list ruleset").rc == 0
    assert app.run("runuser -u auditor -- sudo -n cat /etc/sudoers").rc == 0
    assert app.run("runuser -u auditor -- sudo -n cat /etc/shadow").rc != 0
    assert app.run("runuser -u auditor -- sudo -n /usr/sbin/nft flush ruleset").rc != 0
    assert app.run("runuser -u auditor -- sudo -n true").rc != 0


def test_auditor_sees_the_system_files_modes_and_sudos_defaults(app):
    """What the audit's HARD-06 reads as the auditor, on a converged host: one unprivileged
    `stat` sees every file (no sudo rule), with the modes and owners it expects."""
    files = {
        "/etc/passwd": "644 root:root",
        "/etc/group": "644 root:root",
        "/etc/shells": "644 root:root",
        "/etc/shadow": "640 root:shadow",
        "/etc/gshadow": "640 root:shadow",
        "/etc/sudoers": "440 root:root",
        "/etc/sudoers.d": "755 root:root",
        "/etc/sysctl.d": "755 root:root",
        "/etc/nftables.conf": "600 root:root",
        "/etc/ssh/sshd_config": "644 root:root",
        "/etc/ssh/sshd_config.d/00-preau.conf": "600 root:root",
        **{f"/etc/ssh/ssh_host_{k}_key": "600 root:root" for k in ("ed25519", "rsa", "ecdsa")},
        **{f"/etc/ssh/ssh_host_{k}_key.pub": "644 root:root" for k in ("ed25519", "rsa", "ecdsa")},
    }
    out = app.run(f"runuser -u auditor -- stat -c '%a %U:%G %n' {' '.join(files)} /etc/nftables")
    assert "Permission denied" not in out.stderr
    assert "'/etc/nftables': No such file" in out.stderr  # Debian has none
    seen = {line.split(" ", 2)[2]: line.rsplit(" ", 1)[0] for line in out.stdout.splitlines()}
    assert seen == files
    text = app.run("runuser -u auditor -- sudo -n /usr/bin/cat /etc/sudoers.d/preau").stdout
    for line in ("Defaults use_pty", "Defaults ignore_dot", "Defaults env_reset"):
        assert line in text.splitlines(), line


def test_auditor_reads_keys_and_secret_metadata_only(app):
    def sudo(command):
        return app.run(f"runuser -u auditor -- sudo -n {command}")

    assert "alice@molecule" in sudo("/usr/bin/cat /home/alice/.ssh/authorized_keys").stdout
    assert sudo("/usr/bin/stat -c '%a %U:%G' /etc/shadow").stdout.split()[1] == "root:shadow"
    app.run("install -d /etc/nginx/tls && install -m 600 /dev/null /etc/nginx/tls/ent.example.key")
    assert (
        sudo("/usr/bin/stat -c '%a %U:%G' /etc/nginx/tls/ent.example.key").stdout.strip()
        == "600 root:root"
    )
    assert sudo("/usr/bin/stat -c '%a' /etc/shadow").rc != 0  # other formats: refused
    assert sudo("/usr/bin/cat /etc/ssh/ssh_host_ed25519_key").rc != 0
    find = "/usr/bin/find /var/lib/postgresql/15/main/pg_wal/archive_status -name {} -mmin +5"
    refused = "sudo: a password is required"  # what `sudo -n` says outside the rules
    assert refused not in sudo(find.format("'*.ready'")).stderr
    assert refused in sudo(find.format("'x' -delete -o -name '*.ready'")).stderr


def test_audit_rules_name_real_syscalls_of_both_arches_and_end_locked(app):
    """Each -S name is in its arch's table (ausyscall reads libaudit's tables: no kernel)."""
    rules = app.file("/etc/audit/rules.d/preau.rules").content_string.splitlines()
    rules = [line for line in rules if line.startswith("-")]
    assert rules[-1] == "-e 2"
    tables = {"b64": "x86_64", "b32": "i386"}
    arches = set()
    for rule in (r for r in rules if " -S " in r):
        arch = rule.split("-F arch=")[1].split()[0]
        arches.add(arch)
        for name in rule.split(" -S ")[1].split()[0].split(","):
            found = app.run("ausyscall %s %s --exact", tables[arch], name)
            assert found.rc == 0 and found.stdout.strip().isdigit(), f"{name} not in {arch}"
    assert arches == {"b64", "b32"}
    assert app.run("runuser -u auditor -- sudo -n -l").stdout.count("/usr/sbin/auditctl -s") == 1


def test_lynis_runs_daily(app):
    timer = app.file("/etc/systemd/system/preau-lynis.timer").content_string
    assert "OnCalendar=*-*-* 03:00:00" in timer
    assert app.service("preau-lynis.timer").is_enabled
    assert "cat /var/log/lynis-report.dat" in app.run("runuser -u auditor -- sudo -n -l").stdout


def test_updates_logs_kernel_files(app):
    unattended = app.file("/etc/apt/apt.conf.d/52preau-unattended-upgrades").content_string
    assert (
        'APT::Periodic::Unattended-Upgrade "1";' in unattended and "Debian-Security" in unattended
    )
    assert (
        "$nrconf{restart} = 'a';" in app.file("/etc/needrestart/conf.d/preau.conf").content_string
    )
    assert "-k identity" in app.file("/etc/audit/rules.d/preau.rules").content_string
    assert "MaxRetentionSec=1year" in app.file("/etc/systemd/journald.conf").content_string
    assert "kernel.kptr_restrict = 2" in app.file("/etc/sysctl.d/90-preau.conf").content_string
    assert app.package("chrony").is_installed and app.package("auditd").is_installed
