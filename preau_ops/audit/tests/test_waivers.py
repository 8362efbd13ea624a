"""Waivers: each entry checked when loaded (the entry and the field named), then applied to
the results: a failure covered by a valid waiver is waived, an expired waiver waives nothing."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from preau_ops.audit import report, waivers
from preau_ops.errors import OpsError

CONTROLS = {"SSH-01", "FW-01", "DRIFT-01"}
HOSTS = ["lb", "app1", "app2", "db"]
GROUPS = {"front": ["lb"], "backend": ["app1", "app2"]}  # an inventory's own groups
TODAY = datetime.date(2026, 12, 5)


def entry(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "control": "SSH-01", "hosts": "backend", "justification": "legacy SFTP client until March",
        "accepted_by": "M. Durand, RSSI", "expires": datetime.date(2027, 3, 31),
    }  # fmt: skip
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def parse(*entries: dict[str, Any]) -> list[waivers.Waiver]:
    return waivers.parse(list(entries), CONTROLS, HOSTS, GROUPS, "group_vars/all/audit.yml")


def result(control: str, host: str, status: str, message: str = "") -> dict[str, Any]:
    return {"control": control, "host": host, "status": status, "message": message,
            "title": control, "requirement": "R", "evidence": [], "duration": 0.1}  # fmt: skip


def test_a_valid_entry() -> None:
    (waiver,) = parse(entry(expires="2027-03-31", control="ssh-01"))
    assert waiver.control == "SSH-01" and waiver.members == {"app1", "app2"}
    assert waiver.expires == datetime.date(2027, 3, 31)
    assert parse(entry(hosts="db"))[0].members == {"db"}
    assert parse(entry(hosts="all"))[0].members == {*HOSTS, "platform"}


@pytest.mark.parametrize(
    ("changes", "field", "why"),
    [
        ({"control": "SSH-99"}, "control", "unknown control id 'SSH-99'"),
        ({"control": None}, "control", "missing"),
        ({"hosts": "web9"}, "hosts", "'web9' is no host or group"),
        ({"justification": " "}, "justification", "missing or empty"),
        ({"accepted_by": None}, "accepted_by", "missing or empty"),
        ({"expires": "31/03/2027"}, "expires", "is not a date YYYY-MM-DD"),
        ({"expires": None}, "expires", "is not a date"),
        ({"expiry": "2027-01-01"}, "expiry", "unknown field"),
    ],
)
def test_a_bad_entry_is_named_with_its_field(changes: dict[str, Any], field: str, why: str) -> None:
    with pytest.raises(OpsError) as caught:
        parse(entry(), entry(**changes))
    message = caught.value.message
    assert message.startswith("group_vars/all/audit.yml: audit_waivers entry 2")
    assert f"field {field!r}" in message and why in message, message


def test_not_a_list_and_not_a_mapping() -> None:
    with pytest.raises(OpsError, match="must be a list"):
        waivers.parse({"control": "SSH-01"}, CONTROLS, HOSTS, GROUPS)
    with pytest.raises(OpsError, match="entry 1: is not a mapping"):
        waivers.parse(["SSH-01"], CONTROLS, HOSTS, GROUPS)


def test_a_covered_failure_is_waived_with_its_message_and_the_waiver() -> None:
    results = [
        result("SSH-01", "app1", "failed", "passwordauthentication is yes"),
        result("SSH-01", "db", "failed", "passwordauthentication is yes"),  # not covered
        result("SSH-01", "app2", "passed"),  # nothing to waive
        result("FW-01", "app1", "failed", "input policy is accept"),  # another control
    ]
    applied = waivers.apply(results, parse(entry()), TODAY)
    assert [r["status"] for r in applied] == ["waived", "failed", "passed", "failed"]
    assert applied[0]["message"] == "passwordauthentication is yes"
    assert applied[0]["waiver"] == {
        "hosts": "backend", "justification": "legacy SFTP client until March",
        "accepted_by": "M. Durand, RSSI", "expires": "2027-03-31",
    }  # fmt: skip
    assert applied[1:] == results[1:]


def test_an_expired_waiver_does_not_waive_and_says_since_when() -> None:
    expired = parse(entry(expires=datetime.date(2026, 12, 4)))
    (applied,) = waivers.apply([result("SSH-01", "app1", "failed", "root login")], expired, TODAY)
    assert applied["status"] == "failed"
    assert applied["message"] == (
        "root login — the waiver expired on 2026-12-04 (accepted by M. Durand, RSSI)"
    )
    assert applied["waiver"]["expired"] is True
    # its last day still waives
    last_day = parse(entry(expires=TODAY))
    assert waivers.apply([result("SSH-01", "app1", "failed")], last_day, TODAY)[0]["status"] == (
        "waived"
    )


def test_a_valid_waiver_wins_over_an_expired_one_and_platform_controls() -> None:
    both = parse(entry(expires="2026-01-01"), entry(expires="2027-01-01"))
    assert waivers.apply([result("SSH-01", "app2", "failed")], both, TODAY)[0]["status"] == "waived"
    platform = parse(entry(control="DRIFT-01", hosts="platform"))
    drift = result("DRIFT-01", "platform", "failed", "3 changes")
    assert waivers.apply([drift], platform, TODAY)[0]["status"] == "waived"


def test_counts_and_score_put_waived_apart() -> None:
    results = waivers.apply(
        [result("SSH-01", "app1", "failed"), result("SSH-01", "lb", "passed"),
         result("FW-01", "db", "failed"), result("FW-01", "lb", "skipped")],
        parse(entry()), TODAY,
    )  # fmt: skip
    assert report.summarise(results) == {
        "counts": {"passed": 1, "failed": 1, "waived": 1, "skipped": 1},
        "score": 50.0,
    }


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="preau-audit"
 errors="0" failures="2" skipped="0" tests="3">{cases}</testsuite></testsuites>"""


def case(name: str, control: str, host: str, failure: str = "") -> str:
    props = f'<property name="control" value="{control}" /><property name="host" value="{host}" />'
    failed = f'<failure message="{failure}">trace</failure>' if failure else ""
    return f'<testcase name="{name}"><properties>{props}</properties>{failed}</testcase>'


def test_junit_shows_a_waived_check_as_skipped_with_its_waiver(tmp_path: Path) -> None:
    """Before, audit.xml (pytest's, written during the run) kept the waived check a failure."""
    path = tmp_path / "audit.xml"
    path.write_text(
        JUNIT.format(
            cases=case("test_ssh[app1]", "SSH-01", "app1", "passwordauthentication is yes")
            + case("test_ssh[db]", "SSH-01", "db", "passwordauthentication is yes")
            + case("test_ssh[app2]", "SSH-01", "app2")
        )
    )
    results = [
        result("SSH-01", "app1", "failed", "passwordauthentication is yes"),
        result("SSH-01", "db", "failed", "passwordauthentication is yes"),
        result("SSH-01", "app2", "passed"),
    ]
    applied = waivers.apply(results, parse(entry()), TODAY)
    assert waivers.apply_to_junit(path, applied) == 1
    suite = ET.parse(path).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped"), suite.get("tests")) == ("1", "1", "3")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    waived = cases["test_ssh[app1]"]
    assert waived.find("failure") is None
    skipped = waived.find("skipped")
    assert skipped is not None and skipped.get("type") == "waived"
    assert skipped.get("message") == (
        "waived by M. Durand, RSSI until 2027-03-31: legacy SFTP client until March"
    )
    assert skipped.text == "passwordauthentication is yes"
    assert cases["test_ssh[db]"].find("failure") is not None  # not covered: still a failure
    assert waivers.apply_to_junit(path, results) == 0  # nothing waived: the file is left as is
