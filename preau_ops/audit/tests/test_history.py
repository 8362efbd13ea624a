"""Since last time: the diff of two audits' results, case by case; the history directory; the
operations log's entries between two audits (and a log that cannot be read)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from preau_ops import operations
from preau_ops.audit import history
from preau_ops.errors import OpsError
from preau_ops.inventory import Host, Inventory


def result(control: str, host: str, status: str, message: str = "") -> dict[str, Any]:
    return {"control": control, "host": host, "status": status, "message": message,
            "title": f"title of {control}"}  # fmt: skip


def audit(*results: dict[str, Any], hosts: tuple[str, ...] = ("lb", "db"),
          started: str = "2026-12-04T10:00:00+0100") -> dict[str, Any]:  # fmt: skip
    return {"results": list(results), "hosts": list(hosts), "started": started}


BEFORE = audit(
    result("SSH-01", "lb", "passed"),
    result("FW-01", "db", "failed", "input policy is accept"),
    result("DRIFT-01", "platform", "passed"),
)


def pairs(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(r["control"], r["host"]) for r in rows]


def test_nothing_changed() -> None:
    changes = history.diff(BEFORE, BEFORE)
    assert changes == {
        "previous": "2026-12-04T10:00:00+0100", "new_failures": [], "fixed": [], "changed": [],
        "new_hosts": [], "hosts_gone": [], "new_controls": [], "controls_gone": [],
    }  # fmt: skip


def test_a_new_failure_names_the_outcome_before() -> None:
    after = audit(
        result("SSH-01", "lb", "failed", "passwordauthentication is yes"),
        result("FW-01", "db", "failed", "input policy is accept"),  # still failing: not new
        result("DRIFT-01", "platform", "passed"),
    )
    (row,) = history.diff(BEFORE, after)["new_failures"]
    assert row == {"control": "SSH-01", "host": "lb", "title": "title of SSH-01",
                   "status": "failed", "message": "passwordauthentication is yes",
                   "before": "passed"}  # fmt: skip


def test_fixed_and_other_changes() -> None:
    after = audit(
        result("SSH-01", "lb", "skipped", "no access"),
        result("FW-01", "db", "passed"),
        result("DRIFT-01", "platform", "waived"),
    )
    changes = history.diff(BEFORE, after)
    assert pairs(changes["fixed"]) == [("FW-01", "db")]
    assert [(r["control"], r["before"], r["status"]) for r in changes["changed"]] == [
        ("DRIFT-01", "passed", "waived"), ("SSH-01", "passed", "skipped"),
    ]  # fmt: skip
    assert changes["new_failures"] == []


def test_a_waiver_that_expired_is_a_new_failure_and_a_waived_one_is_no_fix() -> None:
    before = audit(result("SSH-01", "lb", "waived"), result("FW-01", "db", "failed"))
    after = audit(result("SSH-01", "lb", "failed"), result("FW-01", "db", "waived"))
    changes = history.diff(before, after)
    assert pairs(changes["new_failures"]) == [("SSH-01", "lb")]
    assert changes["fixed"] == [] and pairs(changes["changed"]) == [("FW-01", "db")]


def test_new_and_gone_hosts_and_controls() -> None:
    after = audit(
        result("SSH-01", "lb", "passed"),
        result("SSH-01", "app1", "failed", "root login"),
        result("TLS-01", "lb", "passed"),
        hosts=("lb", "app1"),
    )
    changes = history.diff(BEFORE, after)
    assert (changes["new_hosts"], changes["hosts_gone"]) == (["app1"], ["db"])
    assert (changes["new_controls"], changes["controls_gone"]) == (
        ["TLS-01"],
        ["DRIFT-01", "FW-01"],
    )
    assert pairs(changes["new_failures"]) == [("SSH-01", "app1")]  # a new host's failure is new
    assert changes["fixed"] == []  # FW-01 was not run: gone, not fixed


def test_the_history_directory_keeps_each_audit_and_gives_the_last(tmp_path: Path) -> None:
    assert history.previous(tmp_path / "none") is None
    first = history.store(tmp_path, BEFORE)
    assert first.name == "20261204T090000Z.json"  # its start in UTC
    later = audit(result("SSH-01", "lb", "passed"), started="2026-12-05T08:00:00+0000")
    history.store(tmp_path, later)
    (tmp_path / "20261206T000000Z.json").write_text('{"results": [')  # cut short by a crash
    found = history.previous(tmp_path)
    assert found is not None and found["started"] == "2026-12-05T08:00:00+0000"
    assert json.loads(first.read_text()) == BEFORE


ENTRIES = [
    {"seq": 1, "command": "converge", "start": "2026-12-04T08:59:59+00:00"},
    {"seq": 2, "command": "release", "start": "2026-12-04T09:00:00+00:00"},
    {"seq": 3, "command": "patch", "start": "2026-12-05T07:59:59+00:00"},
    {"seq": 4, "command": "backup restore", "start": "2026-12-05T08:00:00+00:00"},
]


def test_the_operations_between_two_audits() -> None:
    found = history.between(ENTRIES, "2026-12-04T10:00:00+0100", "2026-12-05T08:00:00+0000")
    assert [e["seq"] for e in found] == [2, 3]


def test_a_log_that_cannot_be_read_is_said_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = Inventory(path=Path("lab"), hosts={}, groups={})

    def unreachable(_: Inventory) -> str:
        raise OpsError("ops: ssh connection refused")

    monkeypatch.setattr(operations, "read_log", unreachable)
    after = audit(result("SSH-01", "lb", "passed"), started="2026-12-05T08:00:00+0000")
    since = history.since(inv, BEFORE, after)
    assert since["operations"] == {
        "entries": None,
        "error": "the operations log could not be read: ops: ssh connection refused",
    }
    assert since["new_failures"] == [] and history.since(inv, None, after) == {"previous": None}
    lines = [""]
    for entry in ENTRIES:
        lines.append(operations.chained({k: v for k, v in entry.items() if k != "seq"}, lines[-1]))
    monkeypatch.setattr(operations, "read_log", lambda _: "\n".join(lines[1:]) + "\n")
    assert [e["seq"] for e in history.since(inv, BEFORE, after)["operations"]["entries"]] == [2, 3]


def test_prune_removes_audits_past_the_retention_but_never_the_newest(tmp_path: Path) -> None:
    now = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.UTC)
    for name in ("20251001T080000Z", "20251104T115959Z", "20251104T120001Z", "20261201T080000Z"):
        (tmp_path / f"{name}.json").write_text("{}")
    (tmp_path / "notes.json").write_text("{}")  # not an audit of ours: left alone
    assert history.prune(tmp_path, 0, now) == []  # 0 keeps every audit
    removed = history.prune(tmp_path, 396, now)  # cutoff 2025-11-04 12:00 UTC
    assert [p.name for p in removed] == ["20251001T080000Z.json", "20251104T115959Z.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "20251104T120001Z.json",
        "20261201T080000Z.json",
        "notes.json",
    ]
    # an inventory audited once long ago keeps that audit: the next one compares with it
    old = tmp_path / "old"
    old.mkdir()
    (old / "20200101T000000Z.json").write_text("{}")
    assert history.prune(old, 30, now) == [] and (old / "20200101T000000Z.json").exists()


def test_the_retention_is_the_inventory_s() -> None:
    host = Host(name="lb", groups=["lb"], vars={"preau_audit_history_days": 30})
    assert history.keep_days(Inventory(path=Path("x"), hosts={"lb": host}, groups={})) == 30
    bare = Inventory(
        path=Path("x"), hosts={"lb": Host(name="lb", groups=["lb"], vars={})}, groups={}
    )
    assert history.keep_days(bare) == history.KEEP_DAYS == 400
