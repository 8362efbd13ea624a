"""Drift: a converge in check mode would change nothing.

The slowest control (a whole check-mode converge): this module is collected first so that a
worker starts it at once while the others run the per-host controls."""

from __future__ import annotations

import pytest

from preau_ops.audit.catalogue import Evidence, Options
from preau_ops.inventory import Inventory

control = pytest.mark.control


@control("DRIFT-01", "A converge in check mode would change nothing", "Declared state (all roles)")
def test_no_drift(inv: Inventory, options: Options, evidence: Evidence) -> None:
    if options["as_auditor"]:
        pytest.skip(
            "needs the admin account (Ansible check mode uses sudo): run without "
            "--as-auditor, or `deploy.py converge --check` as an admin"
        )
    from preau_ops import converge

    result = converge.run_playbook(inv, check=True, limit=options["limit"])
    evidence(f"converge --check: {result.duration:.0f} s, {result.changed} change(s)")
    problems = []
    for name, host in sorted(result.hosts.items()):
        if host.changes:
            problems.append(f"{name}: " + ", ".join(host.changes))
        if host.failed or host.unreachable:
            problems.append(f"{name}: " + "; ".join(host.errors))
    assert not problems, "drift: " + " | ".join(problems)
