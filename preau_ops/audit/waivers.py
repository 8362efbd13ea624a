"""Waivers: deviations the département accepted, declared in the inventory (`audit_waivers`,
e.g. in `group_vars/all/audit.yml`), each with its control, the hosts it covers (a host, a
group, `all`, or `platform` for the platform-wide controls), a justification, who accepted it
and an expiry date.

`parse` checks every entry when the audit starts (an OpsError names the entry and the field);
`apply` is pure: a failed result covered by a valid waiver becomes `waived` (its message kept,
the waiver beside it); once expired, a waiver waives nothing and the failure's message says
since when. `apply_to_junit` says the same in the JUnit file pytest wrote while the suite ran
(a waived check is skipped there, with the waiver as its reason, not a failure).
"""

from __future__ import annotations

import dataclasses
import datetime
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import OpsError
from ..inventory import Inventory, var_files

VARIABLE = "audit_waivers"
FIELDS = ("control", "hosts", "justification", "accepted_by", "expires")
PLATFORM = "platform"  # the host name of the results of controls that run once

Result = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Waiver:
    control: str
    hosts: str  # as declared: a host, a group, "all" or "platform"
    members: frozenset[str]  # the result hosts it covers ("all": every one)
    justification: str
    accepted_by: str
    expires: datetime.date

    def covers(self, result: Result) -> bool:
        return result["control"] == self.control and (
            self.hosts == "all" or result["host"] in self.members
        )

    def expired(self, today: datetime.date) -> bool:
        return today > self.expires

    def shown(self) -> dict[str, str]:
        """As the reports carry it."""
        return {
            "hosts": self.hosts,
            "justification": self.justification,
            "accepted_by": self.accepted_by,
            "expires": self.expires.isoformat(),
        }


def load(inv: Inventory, controls: Iterable[str]) -> list[Waiver]:
    """The inventory's waivers, checked (OpsError naming the entry and the field)."""
    entries: list[Any] = []
    for host in inv.hosts.values():  # group_vars/all: every host carries the same list
        for entry in host.vars.get(VARIABLE) or []:
            if entry not in entries:
                entries.append(entry)
    where = next(
        (str(f) for f in var_files(inv.path) if VARIABLE in f.read_text(errors="replace")),
        str(inv.path),
    )
    return parse(entries, set(controls), inv.hosts.keys(), inv.groups, where)


def parse(
    entries: object,
    controls: set[str],
    hosts: Iterable[str],
    groups: dict[str, list[str]],
    where: str = "the inventory",
) -> list[Waiver]:
    if not isinstance(entries, list):
        raise _bad(where, None, VARIABLE, "must be a list of waivers")
    return [
        _one(entry, n, controls, set(hosts), groups, where) for n, entry in enumerate(entries, 1)
    ]


def _one(
    entry: object,
    number: int,
    controls: set[str],
    hosts: set[str],
    groups: dict[str, list[str]],
    where: str,
) -> Waiver:
    if not isinstance(entry, dict):
        raise _bad(where, number, None, "is not a mapping of " + ", ".join(FIELDS))
    unknown = sorted(set(map(str, entry)) - set(FIELDS))
    if unknown:
        raise _bad(where, number, unknown[0], "unknown field (fields: " + ", ".join(FIELDS) + ")")
    values = {k: str(entry.get(k) or "").strip() for k in FIELDS if k != "expires"}
    for key in FIELDS[:-1]:
        if not values[key]:
            raise _bad(where, number, key, "missing or empty")
    control = values["control"].upper()
    if control not in controls:
        raise _bad(where, number, "control", f"unknown control id {values['control']!r}")
    return Waiver(
        control=control,
        hosts=values["hosts"],
        members=_members(values["hosts"], hosts, groups, (where, number)),
        justification=values["justification"],
        accepted_by=values["accepted_by"],
        expires=_date(entry.get("expires"), (where, number)),
    )


def _members(
    name: str, hosts: set[str], groups: dict[str, list[str]], at: tuple[str, int]
) -> frozenset[str]:
    if name in ("all", PLATFORM):
        return frozenset({*hosts, PLATFORM} if name == "all" else {PLATFORM})
    if name in hosts:
        return frozenset({name})
    if name in groups:
        return frozenset(groups[name])
    raise _bad(*at, "hosts", f"{name!r} is no host or group of the inventory (nor all, platform)")


def _date(value: object, at: tuple[str, int]) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise _bad(*at, "expires", f"{value!r} is not a date YYYY-MM-DD") from None


def _bad(where: str, number: int | None, key: str | None, why: str) -> OpsError:
    entry = f"{VARIABLE} entry {number}" if number else VARIABLE
    return OpsError(
        f"{where}: {entry}" + (f", field {key!r}" if key else "") + f": {why}",
        "a waiver is {control: SSH-01, hosts: HOST|GROUP|all, justification: TEXT, "
        "accepted_by: NAME, expires: YYYY-MM-DD}; nothing was run",
    )


def apply(results: list[Result], waivers: list[Waiver], today: datetime.date) -> list[Result]:
    """The results with each failure a valid waiver covers marked waived; a failure whose only
    waivers expired says so. Other results are returned unchanged."""
    return [_applied(r, [w for w in waivers if w.covers(r)], today) for r in results]


def _applied(result: Result, waivers: list[Waiver], today: datetime.date) -> Result:
    if result["status"] != "failed" or not waivers:
        return result
    valid = [w for w in waivers if not w.expired(today)]
    if valid:
        chosen = max(valid, key=lambda w: w.expires)
        return {**result, "status": "waived", "waiver": chosen.shown()}
    last = max(waivers, key=lambda w: w.expires)
    note = f"the waiver expired on {last.expires.isoformat()} (accepted by {last.accepted_by})"
    message = f"{result['message']} — {note}" if result.get("message") else note
    return {**result, "message": message, "waiver": {**last.shown(), "expired": True}}


def apply_to_junit(path: Path, results: list[Result]) -> int:
    """Rewrite pytest's JUnit file: each waived check's failure becomes a skip whose message is
    the waiver (CI and test viewers then count it as waived, not failed); the suite's counts
    follow. Returns how many were rewritten."""
    waived = {(r["control"], r["host"]): r["waiver"] for r in results if r["status"] == "waived"}
    if not waived or not path.exists():
        return 0
    tree = ET.parse(path)
    rewritten = 0
    for suite in tree.iter("testsuite"):
        for case in suite.iter("testcase"):
            found = {p.get("name"): p.get("value") for p in case.iter("property")}
            waiver = waived.get((found.get("control"), found.get("host")))
            failure = case.find("failure")
            if waiver is None or failure is None:
                continue
            case.remove(failure)
            skipped = ET.SubElement(case, "skipped", type="waived")
            skipped.set(
                "message",
                f"waived by {waiver['accepted_by']} until {waiver['expires']}: "
                f"{waiver['justification']}",
            )
            skipped.text = failure.get("message") or ""
            rewritten += 1
            suite.set("failures", str(int(suite.get("failures", "0")) - 1))
            suite.set("skipped", str(int(suite.get("skipped", "0")) + 1))
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return rewritten
