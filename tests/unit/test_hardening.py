"""Issue #23 item 6, hardening of the base role: the audit rules (64- and 32-bit syscalls,
locked with -e 2, never loaded in the lab), read from the files the role renders. The
syscall names are checked against the i386 table by the base role's molecule scenario
(ausyscall, in a container: no kernel involved)."""

import re

import pytest
import yaml

from preau_ops import inventory
from preau_ops.paths import ROLES, ROOT

from .test_network import render_base_template

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
        "%preau-admin ALL=(root, postgres, preau, preau-migrate, pgbackrest) NOPASSWD: ALL"
    ]
    assert not [line for line in lines if "(ALL" in line]  # no other user, no group
    assert "Defaults:deploy !requiretty" in lines


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
