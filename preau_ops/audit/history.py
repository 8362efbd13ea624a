"""Since last time: each audit's audit.json kept per inventory, and what changed since the
previous one of the same inventory.

`diff` is pure (two result sets in, the changes out); `store`/`previous` are the history
directory (default artifacts/audit-history/<inventory>/<UTC start>.json), `prune` its audits
past the inventory's retention (the newest always kept); `between` picks the
operations log's entries that started between two audits (`operations_between` reads the log).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from ..inventory import Inventory
from ..paths import ARTIFACTS

HISTORY = ARTIFACTS / "audit-history"
# Default of preau_audit_history_days: a year and a month, so that the yearly audit still finds
# last year's to compare with. 0 keeps every audit.
KEEP_DAYS = 400
STARTED = "%Y-%m-%dT%H:%M:%S%z"  # audit.json's `started`

Result = dict[str, Any]
Key = tuple[str, str]  # (control, host)


def directory(inv: Inventory, given: Path | str | None) -> Path:
    return Path(given) if given else HISTORY / inv.name


def keep_days(inv: Inventory) -> int:
    """The inventory's preau_audit_history_days (group_vars/all: the same on every host)."""
    values = {int(h.vars.get("preau_audit_history_days", KEEP_DAYS)) for h in inv.hosts.values()}
    return max(values, default=KEEP_DAYS)


def moment(started: str) -> datetime.datetime:
    """An audit's `started` (local time with its offset) or a log entry's ISO time, aware."""
    try:
        return datetime.datetime.strptime(started, STARTED)
    except ValueError:
        return datetime.datetime.fromisoformat(started)


def file_name(started: str) -> str:
    return moment(started).astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ") + ".json"


def previous(history: Path) -> dict[str, Any] | None:
    """The last audit stored there (None: the first audit of this inventory)."""
    for path in sorted(history.glob("*.json"), reverse=True):
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a file cut short by a crash is not a previous audit
        if isinstance(data, dict) and "results" in data:
            data["history_file"] = str(path)
            return data
    return None


def store(history: Path, data: dict[str, Any]) -> Path:
    history.mkdir(parents=True, exist_ok=True)
    path = history / file_name(data["started"])
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    return path


def prune(history: Path, days: int, now: datetime.datetime) -> list[Path]:
    """Remove the audits started more than `days` before `now` (0: none), never the newest one
    (the next audit's comparison); the files removed. Only files named as `store` names them."""
    if days <= 0:
        return []
    dated = []
    for path in history.glob("*.json"):
        try:
            when = datetime.datetime.strptime(path.stem, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.UTC
            )
        except ValueError:
            continue  # not an audit of ours: left alone
        dated.append((when, path))
    dated.sort()
    cutoff = now - datetime.timedelta(days=days)
    removed = [path for when, path in dated[:-1] if when < cutoff]
    for path in removed:
        path.unlink()
    return removed


# ------------------------------------------------------------------------------ the diff


def _by_key(results: list[Result]) -> dict[Key, Result]:
    return {(r["control"], r["host"]): r for r in results}


def _row(result: Result, before: Result | None = None) -> dict[str, str]:
    row = {
        "control": result["control"],
        "host": result["host"],
        "title": result.get("title", ""),
        "status": result["status"],
        "message": result.get("message", ""),
    }
    if before is not None:
        row["before"] = before["status"]
    return row


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed from one audit (`results`, `hosts`) to the next: failures that were not
    failing (new ones, and waivers that expired), failures fixed (now passed), other changes of
    outcome (waived, not verified…), hosts and controls that appear or are gone."""
    old, new = _by_key(before["results"]), _by_key(after["results"])
    new_failures = [
        _row(r, old.get(k)) for k, r in sorted(new.items())
        if r["status"] == "failed" and old.get(k, {}).get("status") != "failed"
    ]  # fmt: skip
    fixed = [
        _row(r, old[k]) for k, r in sorted(new.items())
        if r["status"] == "passed" and k in old and old[k]["status"] == "failed"
    ]  # fmt: skip
    listed = {(r["control"], r["host"]) for r in new_failures + fixed}
    changed = [
        _row(r, old[k]) for k, r in sorted(new.items())
        if k in old and k not in listed and r["status"] != old[k]["status"]
    ]  # fmt: skip
    hosts_before, hosts_after = _hosts(before), _hosts(after)
    controls_before = {r["control"] for r in before["results"]}
    controls_after = {r["control"] for r in after["results"]}
    return {
        "previous": before.get("started"),
        "new_failures": new_failures,
        "fixed": fixed,
        "changed": changed,
        "new_hosts": sorted(hosts_after - hosts_before),
        "hosts_gone": sorted(hosts_before - hosts_after),
        "new_controls": sorted(controls_after - controls_before),
        "controls_gone": sorted(controls_before - controls_after),
    }


def _hosts(data: dict[str, Any]) -> set[str]:
    return (set(data.get("hosts") or ()) | {r["host"] for r in data["results"]}) - {"platform"}


def between(entries: list[dict[str, Any]], start: str, end: str) -> list[dict[str, Any]]:
    """The operations log entries that started from one audit's start to the next's."""
    low, high = moment(start), moment(end)
    found = []
    for entry in entries:
        try:
            when = moment(str(entry.get("start")))
        except ValueError:
            continue
        if low <= when < high:
            found.append(entry)
    return found


def operations_between(inv: Inventory, start: str, end: str) -> dict[str, Any]:
    """{"entries": [...]} from the ops host's log, or {"entries": None, "error": why}: a log
    that cannot be read is said, it does not fail the audit."""
    from .. import operations

    try:
        entries = operations.verify(operations.read_log(inv))
    except Exception as exc:  # noqa: BLE001 - any failure to read is reported, not raised
        return {"entries": None, "error": f"the operations log could not be read: {exc}"}
    fields = ("seq", "command", "operator", "start", "end", "outcome", "detail")
    return {"entries": [{k: e.get(k) for k in fields} for e in between(entries, start, end)]}


def since(inv: Inventory, before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """The report's "since last time": None for the first audit of an inventory."""
    if before is None:
        return {"previous": None}
    return {
        **diff(before, after),
        "operations": operations_between(inv, before["started"], after["started"]),
    }
