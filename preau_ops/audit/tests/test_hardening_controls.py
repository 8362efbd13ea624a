"""The hardening controls' pure parts: HARD-01's comparison of kernel settings (and what role
base declares for the profile's kernel rules that coverage.py says HARD-01 covers); HARD-06's
reading of `stat`, its comparison with the profile's modes and owners, and sudo's defaults.
tests/unit/test_hardening.py checks them against what the role writes."""

from __future__ import annotations

import yaml

from preau_ops.audit import coverage
from preau_ops.audit.controls.system import (
    STAT,
    SUDO_DEFAULTS,
    SYSTEM_FILES,
    SystemFile,
    parse_stat,
    sudo_defaults,
    sysctl_differences,
    system_file_problems,
)
from preau_ops.paths import ROLES


def test_a_kernel_setting_compares_word_by_word_and_names_what_differs() -> None:
    wanted = {"kernel.sysrq": 0, "net.ipv4.ip_local_port_range": "32768 65535"}
    # `sysctl` prints a range with a tab; the file as the role writes it, with a space
    assert sysctl_differences(wanted, {"kernel.sysrq": "0", "net.ipv4.ip_local_port_range": "32768\t65535"}) == []  # fmt: skip
    assert sysctl_differences(wanted, {"kernel.sysrq": "1"}) == [
        "kernel.sysrq = 1, declared 0",
        "net.ipv4.ip_local_port_range = (missing), declared 32768 65535",
    ]
    assert sysctl_differences(
        wanted, {"kernel.sysrq": "0", "net.ipv4.ip_local_port_range": "32768 60999"}
    ) == [  # fmt: skip
        "net.ipv4.ip_local_port_range = 32768 60999, declared 32768 65535"
    ]


def test_every_kernel_rule_hard01_covers_is_a_setting_role_base_declares() -> None:
    """A sysctl rule decided covered by HARD-01 names a key of base_sysctl (SSG's rule id is
    the key with its dots as underscores), and no rule left out is declared after all."""
    declared = yaml.safe_load((ROLES / "base/defaults/main.yml").read_text())["base_sysctl"]
    keys = {key.replace(".", "_"): key for key in declared}
    rules = {
        rule: decision for rule, decision in coverage.RULES.items() if rule.startswith("sysctl_")
    }
    assert len(rules) == 56
    for rule, decision in rules.items():
        name = rule.removeprefix("sysctl_")
        if "HARD-01" in decision.controls:
            assert name in keys, f"{rule} is decided covered, but base_sysctl lacks it"
        else:
            assert name not in keys, f"base_sysctl sets {keys[name]}, decide {rule} covered"
    assert declared["net.ipv6.conf.default.accept_ra_defrtr"] == 0
    assert declared["kernel.pid_max"] == 65536


# --------------------------------------------------------------------------- HARD-06

# What `stat -c '%a %U:%G %n'` prints on a Debian 12 host the roles converged (a part of it),
# and its message for a path that does not exist and for one it may not see.
STAT_OUT = """644 root:root /etc/passwd
640 root:shadow /etc/shadow
755 root:root /etc/sudoers.d
600 root:root /etc/ssh/ssh_host_ed25519_key
"""
STAT_ERR = """stat: cannot statx '/etc/nftables': No such file or directory
stat: cannot statx '/etc/ssh/sshd_config.d/00-preau.conf': Permission denied
"""
FILES = [
    SystemFile("/etc/passwd", "root:root", 0o644),
    SystemFile("/etc/shadow", "root:shadow", 0o640),
    SystemFile("/etc/sudoers.d", "root:root", 0o755),
    SystemFile("/etc/ssh/ssh_host_ed25519_key", "root:root", 0o600),
    SystemFile("/etc/nftables", "root:root", 0o700, optional=True),
    SystemFile("/etc/ssh/sshd_config.d/00-preau.conf", "root:root", 0o600),
]


def test_stat_is_read_into_modes_owners_and_the_paths_it_could_not_see() -> None:
    seen, denied = parse_stat(STAT_OUT, STAT_ERR)
    assert seen == {
        "/etc/passwd": (0o644, "root:root"),
        "/etc/shadow": (0o640, "root:shadow"),
        "/etc/sudoers.d": (0o755, "root:root"),
        "/etc/ssh/ssh_host_ed25519_key": (0o600, "root:root"),
    }
    assert denied == {"/etc/ssh/sshd_config.d/00-preau.conf"}
    # as converged: nothing to say (an optional path may be absent, a denied one is the
    # auditor's limit, not the host's fault)
    assert system_file_problems(FILES, seen, denied) == []


def test_a_wider_mode_another_owner_or_group_or_a_missing_file_fails() -> None:
    seen, denied = parse_stat(STAT_OUT, STAT_ERR)
    seen["/etc/shadow"] = (0o644, "root:shadow")  # readable by everyone
    seen["/etc/passwd"] = (0o644, "root:adm")  # another group
    seen["/etc/sudoers.d"] = (0o757, "root:root")  # writable by everyone
    seen["/etc/nftables"] = (0o755, "root:root")  # present: the profile's mode applies
    del seen["/etc/ssh/ssh_host_ed25519_key"]
    assert system_file_problems(FILES, seen, denied) == [
        "/etc/passwd is 644 root:adm, expected 644 or stricter root:root",
        "/etc/shadow is 644 root:shadow, expected 640 or stricter root:shadow",
        "/etc/sudoers.d is 757 root:root, expected 755 or stricter root:root",
        "/etc/ssh/ssh_host_ed25519_key is missing",
        "/etc/nftables is 755 root:root, expected 700 or stricter root:root",
    ]
    # stricter passes (SSG: "or stricter")
    seen = {f.path: (0o600 & f.mode, f.owner) for f in FILES}
    assert system_file_problems(FILES, seen, set()) == []


def test_the_control_reads_every_file_in_one_unprivileged_stat() -> None:
    assert STAT.startswith("stat -c '%a %U:%G %n' /etc/passwd ")
    assert STAT.split()[5:] == [f.path for f in SYSTEM_FILES]
    # none inside a directory a host may close to other accounts (SSG wants /etc/sudoers.d
    # 0750): the auditor's stat would not see it
    assert not [f.path for f in SYSTEM_FILES if f.path.startswith("/etc/sudoers.d/")]
    # the files SSG names for the host keys: private 0600, public 0644, root's
    keys = {f.path: (f.mode, f.owner) for f in SYSTEM_FILES if "ssh_host_" in f.path}
    assert len(keys) == 6 and set(keys.values()) == {(0o600, "root:root"), (0o644, "root:root")}


def test_sudo_defaults_are_those_set_for_everyone_and_not_unset_later() -> None:
    text = """# managed
Defaults use_pty
Defaults  ignore_dot, env_reset,logfile="/var/log/sudo.log"
Defaults:%preau-admin !requiretty
Defaults!/usr/bin/less noexec
Defaults>root umask=077
%preau-admin ALL=(root) NOPASSWD: ALL
"""
    assert sudo_defaults(text) == {"use_pty", "ignore_dot", "env_reset", "logfile"}
    assert sudo_defaults(text + "Defaults !use_pty\n") == {"ignore_dot", "env_reset", "logfile"}
    assert sudo_defaults("# Defaults use_pty\n") == set()
    assert set(SUDO_DEFAULTS) == {"use_pty", "ignore_dot", "env_reset"}
