"""Logs that outlive their host (issue #23 item 6): every host uploads its journal to the
journal host (role base, tasks/journal.yml; the ops host by the wiring) over TLS with the
internal PKI (stunnel checks the client's certificate: Debian 12's journal-remote cannot), and
the journal host holds recent entries of every one of them."""

from __future__ import annotations

from collections import Counter

import pytest

from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.inventory import Host, Inventory

control = pytest.mark.control

REMOTE_DIR = "/var/log/journal/remote"
# TLS with the clients' certificates checked (stunnel), journal-remote behind it on loopback.
RECEIVER_UNITS = ("stunnel@preau-journal.service", "systemd-journal-remote.socket")
# The auditor's sudo rule (roles/base/vars/main.yml): one hostname per entry of the last day.
RECEIVED = (
    f"/usr/bin/journalctl --directory={REMOTE_DIR} --since=-1d --output=cat"
    " --output-fields=_HOSTNAME --quiet"
)


def received_from(
    output: str, inv: Inventory, journal_host: str
) -> tuple[dict[str, int], list[str]]:
    """(entries per inventory host, hosts with none) of RECEIVED's output: a host's entries
    carry its hostname, its inventory name or that name's first label."""
    counts = Counter(line.strip() for line in output.splitlines() if line.strip())
    seen, silent = {}, []
    for name in sorted(inv.hosts):
        if name == journal_host:
            continue
        total = sum(counts[label] for label in {name, name.split(".")[0]})
        if total:
            seen[name] = total
        else:
            silent.append(name)
    return seen, silent


@control(
    "LOG-01",
    "Journals uploaded over TLS to the journal host, which holds every host's last day",
    "ANSSI-BP-028 R71 (logs kept off the host); issue #23 item 6",
    groups=("all",),
)
def test_journal_forwarding(host: Host, remote: Remote, inv: Inventory, evidence: Evidence) -> None:
    journal_host = str(host.vars.get("base_journal_remote_host") or "")
    if not journal_host:
        pytest.skip("no journal host declared (base_journal_remote_host)")
    if host.name == journal_host:
        problems = _receiver_problems(remote, inv, journal_host, evidence)
    else:
        problems = _uploader_problems(remote, evidence)
    assert not problems, "; ".join(problems)


def _uploader_problems(remote: Remote, evidence: Evidence) -> list[str]:
    active = remote.out("systemctl is-active systemd-journal-upload.service").strip()
    config = remote.out("cat /etc/systemd/journal-upload.conf")
    url = next((line for line in config.splitlines() if line.startswith("URL=")), "no URL")
    evidence(f"systemd-journal-upload {active}, {url}")
    problems = [] if active == "active" else [f"systemd-journal-upload is {active}"]
    if not url.startswith("URL=https://"):
        problems.append(f"the upload is not over HTTPS ({url})")
    return problems


def _receiver_problems(
    remote: Remote, inv: Inventory, journal_host: str, evidence: Evidence
) -> list[str]:
    output = remote.root_out(RECEIVED)
    assert output is not None, f"sudo refused `{RECEIVED}`"
    seen, silent = received_from(output, inv, journal_host)
    problems = []
    for unit in RECEIVER_UNITS:
        state = remote.out(f"systemctl is-active {unit}").strip()
        evidence(f"{unit} {state}")
        if state != "active":
            problems.append(f"{unit} is {state}")
    evidence("entries of the last day: " + ", ".join(f"{h} {n}" for h, n in seen.items()))
    if silent:
        problems.append(f"no entry of the last day from {', '.join(silent)}")
    return problems
