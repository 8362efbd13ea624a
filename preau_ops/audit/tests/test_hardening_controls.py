"""The hardening controls' pure parts: HARD-01's comparison of kernel settings, and what the
role base declares for the profile's kernel rules that coverage.py says HARD-01 covers."""

from __future__ import annotations

import yaml

from preau_ops.audit import coverage
from preau_ops.audit.controls.system import sysctl_differences
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
