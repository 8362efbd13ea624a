"""What the audit covers of a reference (issue #25 item 1), and the controls' requirement ids.

The reference is the ANSSI intermediate profile as Debian's ssg-debian package carries it
(data/anssi-ssg-debian.json, written by ssg.py). Each of its rules is decided here, by hand:
covered by named controls, not applicable (with the reason), or not covered yet (with what is
missing). A recommendation (an ANSSI id) is covered when every one of its rules is covered or
not applicable, partly when some are, not applicable when all are.

Every control's requirement names ids (`requirement_ids`): ANSSI-BP-028 Rn (v2.0 numbering),
RGPD articles, issues, the declared state, named guides and the project's own files; the
catalogue's test fails when a control names none.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .ssg import DATA_FILE

COVERED, NOT_APPLICABLE, NOT_COVERED, PARTLY = (
    "covered",
    "not applicable",
    "not covered",
    "partly covered",
)


class Decision(NamedTuple):
    status: str
    controls: tuple[str, ...] = ()
    note: str = ""


def covered(*controls: str, note: str = "") -> Decision:
    return Decision(COVERED, controls, note)


def not_applicable(reason: str) -> Decision:
    return Decision(NOT_APPLICABLE, (), reason)


def not_covered(missing: str) -> Decision:
    return Decision(NOT_COVERED, (), missing)


_SYSLOG = not_applicable(
    "no syslog daemon: journald keeps the logs (persistent, bounded: HARD-03) and sends them "
    "off the host over TLS (LOG-01)"
)
_ACCOUNT_FILE = not_covered("mode and owner set by Debian, not read by any control")
_PARTITION = not_covered("partitions are the provider's; no control reads the mounts")

# Each rule of the profile (data file), decided.
RULES: dict[str, Decision] = {
    "apt_conf_disallow_unauthenticated": not_covered("APT-01 reads the proxy, not this option"),
    "apt_sources_list_official": covered(
        "APT-01", note="every package comes through the platform's apt proxy"
    ),
    "ensure_logrotate_activated": not_covered("logrotate's timer is not checked"),
    "file_groupowner_etc_group": _ACCOUNT_FILE,
    "file_groupowner_etc_gshadow": _ACCOUNT_FILE,
    "file_groupowner_etc_passwd": _ACCOUNT_FILE,
    "file_groupowner_etc_shadow": not_covered("HARD-05 compares the owner, not the group"),
    "file_owner_etc_group": _ACCOUNT_FILE,
    "file_owner_etc_gshadow": _ACCOUNT_FILE,
    "file_owner_etc_passwd": _ACCOUNT_FILE,
    "file_owner_etc_shadow": covered("HARD-05"),
    "file_permissions_etc_group": _ACCOUNT_FILE,
    "file_permissions_etc_gshadow": _ACCOUNT_FILE,
    "file_permissions_etc_passwd": _ACCOUNT_FILE,
    "file_permissions_etc_shadow": covered("HARD-05"),
    "file_permissions_systemmap": not_covered("/boot's System.map is not read"),
    "package_inetutils-telnetd_removed": covered(
        "DECL-03", note="a telnet server's listening port is undeclared, so it fails"
    ),
    "package_nis_removed": not_covered("installed packages beyond the declared are not listed"),
    "package_ntp_installed": covered(
        "TIME-01", note="chrony, synchronised from the platform's time server, stands for ntp"
    ),
    "package_ntpdate_removed": not_covered("installed packages beyond the declared are not listed"),
    "package_rsyslog_installed": _SYSLOG,
    "package_syslogng_installed": _SYSLOG,
    "package_telnetd-ssl_removed": covered(
        "DECL-03", note="a telnet server's listening port is undeclared, so it fails"
    ),
    "package_telnetd_removed": covered(
        "DECL-03", note="a telnet server's listening port is undeclared, so it fails"
    ),
    "partition_for_home": _PARTITION,
    "partition_for_tmp": _PARTITION,
    "partition_for_var": _PARTITION,
    "partition_for_var_log": _PARTITION,
    "partition_for_var_log_audit": _PARTITION,
    "rsyslog_files_groupownership": _SYSLOG,
    "rsyslog_files_ownership": _SYSLOG,
    "rsyslog_files_permissions": _SYSLOG,
    "service_rsyslog_enabled": _SYSLOG,
    "service_syslogng_enabled": _SYSLOG,
    "sshd_allow_only_protocol2": not_applicable(
        "Debian 12's OpenSSH speaks protocol 2 only (protocol 1 was removed in 7.6)"
    ),
    "sshd_disable_empty_passwords": covered("SSH-01", "SSH-04"),
    "sshd_disable_root_login": covered("SSH-01", "SSH-04"),
    "sshd_set_idle_timeout": not_covered(
        "role base sets ClientAliveInterval 300; SSH-01 does not read it"
    ),
    "sshd_set_keepalive_0": not_covered(
        "role base sets ClientAliveCountMax 2, not 0; SSH-01 does not read it"
    ),
    "sudo_remove_no_authenticate": not_covered(
        "deliberate deviation: admins log in with keys only and have no password, so their "
        "sudo asks none (docs/security.md, 'sudo'); a waiver, not a control"
    ),
    "sudo_remove_nopasswd": not_covered(
        "deliberate deviation: admins log in with keys only and have no password, so their "
        "sudo asks none (docs/security.md, 'sudo'); a waiver, not a control"
    ),
    "sysctl_fs_protected_hardlinks": covered("HARD-01"),
    "sysctl_fs_protected_symlinks": covered("HARD-01"),
    "sysctl_fs_suid_dumpable": covered("HARD-01"),
    "sysctl_kernel_randomize_va_space": covered("HARD-01"),
}
NO_ID = "(no ANSSI id)"


@functools.cache
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(DATA_FILE).read_text())
    return data


def _status(decisions: list[Decision]) -> str:
    statuses = {d.status for d in decisions}
    if statuses == {NOT_APPLICABLE}:
        return NOT_APPLICABLE
    if statuses <= {COVERED, NOT_APPLICABLE}:
        return COVERED
    return PARTLY if COVERED in statuses else NOT_COVERED


def recommendations(
    ref: Mapping[str, Any], decided: Mapping[str, Decision]
) -> list[dict[str, Any]]:
    """One row per ANSSI id of the reference (rules without one last): its rules, each with
    its decision, and its status."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for rule in ref["rules"]:
        for rid in rule["anssi"] or [NO_ID]:
            by_id.setdefault(rid, []).append(rule)
    rows = []
    for rid in sorted(by_id, key=_order):
        rules = by_id[rid]
        decisions = [decided[r["rule"]] for r in rules]
        rows.append(
            {
                "id": rid,
                "status": _status(decisions),
                "controls": sorted({c for d in decisions for c in d.controls}),
                "rules": [
                    {"rule": r["rule"], "title": r["title"], **d._asdict()}
                    for r, d in zip(rules, decisions, strict=True)
                ],
            }
        )
    return rows


def _order(rid: str) -> tuple[int, str, int]:
    match = re.match(r"([A-Z]+\d*)\(R(\d+)\)", rid)
    if not match:
        return (1, rid, 0)
    return (0, match.group(1), int(match.group(2)))


# ------------------------------------------------------------------ the controls' requirements

_ANSSI_BP = re.compile(r"ANSSI-BP-028((?:[ ,]+(?:and )?R\d+)*)")
_RGPD = re.compile(r"RGPD((?:[ ,]+(?:and )?art\. \d+(?:-\d+-[a-z])?)+)")
_PATTERNS = [
    (re.compile(r"[Ii]ssue #(\d+)"), "issue #{}"),
    (re.compile(r"[Dd]eclared (?:state|preau_domain)"), "declared state"),
    (re.compile(r"(ANSSI (?:TLS guide|OpenSSH note|PostgreSQL recommendations))"), "{}"),
    (re.compile(r"(Mozilla Server Side TLS)"), "{}"),
    (re.compile(r"((?:docs|app/src/preau)/[\w/.-]+\.(?:md|py))"), "project: {}"),
]


def requirement_ids(text: str) -> list[str]:
    """The ids a requirement names, in order, once: 'ANSSI-BP-028 R79' (v2.0), 'RGPD art.
    5-1-e', 'issue #21', 'declared state', named guides, 'project: docs/domain.md'…"""
    found: list[str] = []
    for match in _ANSSI_BP.finditer(text):
        numbers = re.findall(r"R(\d+)", match.group(1))
        found += [f"ANSSI-BP-028 R{n}" for n in numbers] or ["ANSSI-BP-028"]
    for match in _RGPD.finditer(text):
        found += [f"RGPD art. {a}" for a in re.findall(r"art\. (\S+?)(?=[ ,;)]|$)", match.group(1))]
    for pattern, form in _PATTERNS:
        found += [form.format(m) for m in pattern.findall(text)]
    return list(dict.fromkeys(found))


def by_requirement(controls: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """{ANSSI-BP-028 id: control ids naming it}, from (control id, requirement) pairs."""
    named: dict[str, set[str]] = {}
    for control, requirement in controls:
        for rid in requirement_ids(requirement):
            if rid.startswith("ANSSI-BP-028 R"):
                named.setdefault(rid, set()).add(control)
    return {
        rid: sorted(named[rid]) for rid in sorted(named, key=lambda r: int(r.rsplit("R", 1)[1]))
    }


# ------------------------------------------------------------------ the reports' section


def section(results: list[dict[str, Any]]) -> dict[str, Any]:
    """audit.json's `coverage`: the reference, each recommendation with its status and the
    outcome in this run of the controls that cover it, the counts, and the ANSSI-BP-028 ids
    the controls' requirements name."""
    ref = reference()
    outcome: dict[str, set[str]] = {}
    for result in results:
        outcome.setdefault(result["control"], set()).add(result["status"])
    rows = recommendations(ref, RULES)
    for row in rows:
        row["outcome"] = _outcome(set().union(*(outcome.get(c, set()) for c in row["controls"])))
    counts = dict.fromkeys((COVERED, PARTLY, NOT_APPLICABLE, NOT_COVERED), 0)
    for row in rows:
        counts[row["status"]] += 1
    pairs = {(r["control"], r["requirement"]) for r in results}
    return {
        "reference": {**ref["source"], "profile": ref["profile"], "title": ref["title"]},
        "counts": counts,
        "recommendations": rows,
        "controls_by_anssi_id": by_requirement(sorted(pairs)),
    }


def _outcome(seen: set[str]) -> str:
    """What the covering controls' results in this run say together."""
    if "failed" in seen:
        return "failed"
    if not seen:
        return "not run"
    if "waived" in seen:  # a failure a declared waiver covers (issue #25 item 2)
        return "waived"
    return "passed" if seen == {"passed"} else "skipped"
