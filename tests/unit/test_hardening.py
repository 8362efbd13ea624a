"""Issue #23 item 6, hardening of the base role: the audit rules (64- and 32-bit syscalls,
locked with -e 2, never loaded in the lab), read from the files the role renders. The
syscall names are checked against the i386 table by the base role's molecule scenario
(ausyscall, in a container: no kernel involved)."""

import re

import pytest
import yaml

from preau_ops import inventory
from preau_ops.paths import ROLES, ROOT

from .test_network import PRIVATE, render_base_template, table, two_networks  # noqa: F401

BASE = ROLES / "base"
HOST = {"app1": (["app"], {"ansible_host": "192.0.2.21"})}


@pytest.fixture(autouse=True)
def _control_marker(pytestconfig):
    """The audit's control modules use the `control` mark (registered by the audit's conftest,
    not collected when tests/unit runs alone)."""
    pytestconfig.addinivalue_line("markers", "control(id, title, requirement, groups): audit")


def audit_rules() -> list[str]:
    text = render_base_template("audit-preau.rules.j2", "app1", HOST)
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def syscall_rules(rules: list[str]) -> dict[tuple[str, str], set[str]]:
    """{(arch, the rule without its arch and syscalls): syscalls} of every -S rule."""
    found: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        if " -S " not in rule:
            continue
        arch = re.search(r"-F arch=(\S+)", rule)
        assert arch, f"a syscall rule without its arch: {rule}"
        syscalls = re.search(r"-S (\S+)", rule)
        assert syscalls
        rest = rule.replace(arch.group(0), "").replace(syscalls.group(0), "")
        found[(arch.group(1), " ".join(rest.split()))] = set(syscalls.group(1).split(","))
    return found


def test_every_syscall_rule_has_its_64_and_32_bit_twins():
    rules = syscall_rules(audit_rules())
    b64 = {rest for arch, rest in rules if arch == "b64"}
    b32 = {rest for arch, rest in rules if arch == "b32"}
    assert b64 and b64 == b32
    assert {arch for arch, _ in rules} == {"b64", "b32"}
    for rest in b64:
        # the 32-bit table has these names too, and its own besides (stime, umount, ...)
        assert rules[("b64", rest)] <= rules[("b32", rest)], rest
    time = next(rest for rest in b32 if "-k time" in rest)
    assert {"stime", "clock_settime64"} <= rules[("b32", time)]
    mounts = next(rest for rest in b32 if "-k mounts" in rest)
    assert "umount" in rules[("b32", mounts)]


def test_the_rules_end_locked():
    rules = audit_rules()
    assert rules[-1] == "-e 2"
    assert sum(rule.startswith("-e ") for rule in rules) == 1


def test_the_audit_reads_the_same_in_the_file_hard02():
    from preau_ops.audit.controls.system import audit_rules_problems

    rules = audit_rules()
    assert audit_rules_problems(rules) == []
    only64 = [r for r in rules if "arch=b32" not in r]
    assert audit_rules_problems(only64[:-1]) == [
        f"syscall rules -k {key} for b64 only, not b64 and b32"
        for key in ("modules", "mounts", "root_commands", "time")
    ] + ["the rules do not end with -e 2 (locked until reboot)"]


def handlers_touching_the_kernel() -> list[dict]:
    handlers = yaml.safe_load((BASE / "handlers/main.yml").read_text())
    commands = ("auditctl", "augenrules")
    return [h for h in handlers if str(h.get("ansible.builtin.command")).startswith(commands)]


def test_audit_rules_are_loaded_only_where_declared_and_never_in_the_lab(lab):
    handlers = handlers_touching_the_kernel()
    assert {h["ansible.builtin.command"].split()[0] for h in handlers} == {"auditctl", "augenrules"}
    for handler in handlers:
        assert "base_audit_load_rules and not base_in_container" in handler["when"], handler
    defaults = yaml.safe_load((BASE / "defaults/main.yml").read_text())
    assert defaults["base_audit_load_rules"] is True
    for host in inventory.load(str(lab)).hosts.values():
        assert host.vars["base_audit_load_rules"] is False, host.name
    converge = yaml.safe_load((BASE / "molecule/default/converge.yml").read_text())
    assert converge[0]["vars"]["base_audit_load_rules"] is False


# --------------------------------------------------------------------------- sudo

ADMIN = {"app1": (["app"], {"ansible_host": "192.0.2.21", "ansible_user": "deploy"})}


def sudoers() -> list[str]:
    text = render_base_template("sudoers-preau.j2", "app1", ADMIN)
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_admins_sudo_acts_as_root_and_the_declared_service_accounts_only():
    lines = sudoers()
    admins = [line for line in lines if line.startswith("%preau-admin ")]
    assert admins == [
        "%preau-admin ALL=(root, postgres, preau, preau-migrate, pgbackrest, auditor) NOPASSWD: ALL"
    ]
    assert not [line for line in lines if "(ALL" in line]  # no other user, no group
    assert "Defaults:%preau-admin !requiretty" in lines


def test_every_sudo_u_of_the_tools_and_lab_tests_is_a_declared_account():
    """deploy.py and the lab tests run `sudo -u ACCOUNT` as the connection user: each account
    must be one the narrowed rule allows (else the command fails on every host)."""
    admins = next(line for line in sudoers() if line.startswith("%preau-admin "))
    allowed = set(re.search(r"\(([^)]*)\)", admins).group(1).split(", "))
    sources = [*ROOT.glob("preau_ops/**/*.py"), *ROOT.glob("tests/lab/*.py")]
    used = {
        account
        for path in sources
        for account in re.findall(r"sudo (?:-n )?-u ([a-z][a-z-]*)", path.read_text())
    }
    assert {"postgres", "preau", "preau-migrate"} <= used
    assert used <= allowed, used - allowed


def test_hard06_reads_the_sudo_defaults_the_role_writes_where_the_auditor_may_read_them():
    from preau_ops.audit.controls.system import SUDO_DEFAULTS, SUDOERS, sudo_defaults

    lines = sudoers()
    assert set(SUDO_DEFAULTS) <= sudo_defaults("\n".join(lines))
    # `sudo cat` of the file: one exact rule (remote.read), for the auditor run too
    assert f"auditor ALL=(root) NOPASSWD: /usr/bin/cat {SUDOERS}" in lines
    tasks = yaml.safe_load((BASE / "tasks/accounts.yml").read_text())
    assert any(t.get("ansible.builtin.template", {}).get("dest") == SUDOERS for t in tasks)


def test_hard06_expects_of_the_roles_files_what_the_role_writes():
    """The files HARD-06 reads that role base writes: the same owner, group and mode."""
    from preau_ops.audit.controls.system import SYSTEM_FILES

    written = {}
    for path in sorted((BASE / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            args = task.get("ansible.builtin.template") or {}
            if "dest" in args:
                written[args["dest"]] = (int(args["mode"], 8), f"{args['owner']}:{args['group']}")
    checked = [f for f in SYSTEM_FILES if f.path in written]
    assert {f.path for f in checked} == {
        "/etc/nftables.conf",
        "/etc/ssh/sshd_config.d/00-preau.conf",
    }
    for wanted in checked:
        assert written[wanted.path] == (wanted.mode, wanted.owner), wanted.path


# --------------------------------------------------------------------------- journals

PLATFORM = {
    "ops": (
        ["monitoring", "backup"],
        {"ansible_host": "192.0.2.41", "preau_private_address": "10.0.2.41"},
    ),
    "app1": (["app"], {"ansible_host": "192.0.2.21", "preau_private_address": "10.0.2.21"}),
    "db": (["db"], {"ansible_host": "192.0.2.31", "preau_private_address": "10.0.2.31"}),
}


def test_every_host_uploads_to_the_ops_hosts_private_address_which_listens_there_alone():
    upload = render_base_template("journal-upload.conf.j2", "app1", PLATFORM)
    assert "URL=https://10.0.2.41:19532" in upload.splitlines()
    for name in ("ServerKeyFile", "ServerCertificateFile", "TrustedCertificateFile"):
        assert re.search(rf"^{name}=/etc/preau/pki/\S+$", upload, re.M), name
    # TLS on the private address, client certificates of the CA only (stunnel), then
    # journal-remote on loopback
    stunnel = render_base_template("stunnel-journal.conf.j2", "ops", PLATFORM).splitlines()
    for line in (
        "accept = 10.0.2.41:19532",
        "connect = 127.0.0.1:19531",
        "CAfile = /etc/preau/pki/ca.pem",
        "requireCert = yes",
        "verifyChain = yes",
    ):
        assert line in stunnel, line
    socket = render_base_template("journal-remote.socket.conf.j2", "ops", PLATFORM)
    assert [line for line in socket.splitlines() if line.startswith("ListenStream")] == [
        "ListenStream=",
        "ListenStream=127.0.0.1:19531",
    ]


def test_the_journal_port_is_opened_on_the_ops_host_to_the_platforms_private_addresses():
    from .test_network import _nft_openings

    _, ops = _nft_openings(render_base_template("nftables.conf.j2", "ops", PLATFORM))
    assert ops[("tcp", 19532)] == {"10.0.2.41", "10.0.2.21", "10.0.2.31"}
    _, app = _nft_openings(render_base_template("nftables.conf.j2", "app1", PLATFORM))
    assert ("tcp", 19532) not in app


def test_log01_names_the_hosts_whose_journal_did_not_arrive_and_may_read_it():
    from preau_ops.audit.controls.logs import RECEIVED, received_from

    inv = inventory.Inventory(
        path=BASE,
        hosts={n: inventory.Host(n, g, v) for n, (g, v) in PLATFORM.items()},
        groups={},
    )
    seen, silent = received_from("app1\napp1\nops\n\n", inv, "ops")
    assert seen == {"app1": 2} and silent == ["db"]
    own = yaml.safe_load((BASE / "vars/main.yml").read_text())["base__auditor_own_commands"]
    assert RECEIVED in own


# --------------------------------------------------------------------------- egress


def output_chain(name: str, hosts: dict) -> str:
    ruleset = render_base_template("nftables.conf.j2", name, hosts)
    return ruleset[ruleset.index("chain output") :]


def test_app_and_db_hosts_reach_only_what_the_other_hosts_open_to_them():
    app = output_chain("app1", PLATFORM)
    assert "policy drop;" in app
    for rule in (
        "ip daddr { 10.0.2.31 } tcp dport { 5432 } accept",  # the database
        "ip daddr { 10.0.2.41 } tcp dport { 22 } accept",  # borgmatic to the backup host
        "ip daddr { 10.0.2.41 } tcp dport { 3142 } accept",  # the apt proxy
        "ip daddr { 10.0.2.41 } udp dport { 123 } accept",  # time
        "ip daddr { 10.0.2.41 } tcp dport { 19532 } accept",  # the journal
    ):
        assert rule in app, rule
    assert "dport { 53 }" not in app  # no resolver declared, no DNS
    assert "9100" not in app  # scraped by the ops host: a reply, not a connection
    db = output_chain("db", PLATFORM)
    assert "ip daddr { 10.0.2.41 } tcp dport { 22 } accept" in db  # WAL archiving
    assert "5432" not in db
    ops = output_chain("ops", PLATFORM)
    assert "policy accept;" in ops and "daddr" not in ops  # the ops host: not restricted


def test_resolvers_relay_and_clamav_mirrors_are_opened_only_when_declared():
    declared = {
        "base_dns_resolvers": ["10.0.0.53"],
        "preau_smtp_relay_host": "10.0.9.25",
        "app_antivirus_local_signatures": [],
    }
    hosts = {name: (groups, {**hvars, **declared}) for name, (groups, hvars) in PLATFORM.items()}
    app = output_chain("app1", hosts)
    assert "ip daddr { 10.0.0.53 } udp dport { 53 } accept" in app
    assert "ip daddr { 10.0.0.53 } tcp dport { 53 } accept" in app
    assert "ip daddr { 10.0.9.25 } tcp dport { 587 } accept" in app
    assert "\n    tcp dport { 80, 443 } accept" in app  # freshclam's CDN
    db = output_chain("db", hosts)
    assert "587" not in db and "80, 443" not in db
    local = {**declared, "app_antivirus_local_signatures": ["/srv/sigs/local.ndb"]}
    hosts = {name: (groups, {**hvars, **local}) for name, (groups, hvars) in PLATFORM.items()}
    assert "80, 443" not in output_chain("app1", hosts)


def test_the_audit_declares_the_egress_the_role_renders_egress01(two_networks):  # noqa: F811
    from preau_ops.audit.controls.egress import egress_problems, output_chain

    hosts = table(two_networks)
    restricted = 0
    for host in two_networks.hosts.values():
        policy, accepted = output_chain(render_base_template("nftables.conf.j2", host.name, hosts))
        if not {"app", "db"} & set(host.groups):
            assert policy == "accept", host.name
            continue
        restricted += 1
        assert egress_problems(two_networks, host, policy, accepted) == [], host.name
    assert restricted == 3
    # a destination too many, one missing, the policy: each named
    app = two_networks.hosts["app1.ent.example.fr"]
    policy, accepted = output_chain(render_base_template("nftables.conf.j2", app.name, hosts))
    db = PRIVATE["db1.ent.example.fr"]
    assert egress_problems(two_networks, app, policy, accepted - {("tcp", 5432, db)}) == [
        f"declared 5432/tcp to {db} not accepted"
    ]
    lb = PRIVATE["lb1.ent.example.fr"]
    assert egress_problems(two_networks, app, policy, accepted | {("tcp", 443, lb)}) == [
        f"undeclared 443/tcp to {lb} accepted"
    ]
    assert egress_problems(two_networks, app, "accept", accepted) == [
        "output policy is accept, not drop"
    ]
