"""The DATA controls' judgements and their one way into the database (psql as the auditor's
read-only role); tests/lab/test_61_privacy.py runs them on real hosts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from preau_ops.audit.controls import privacy
from preau_ops.inventory import Host


@dataclass
class Answer:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeRemote:
    """What the controls ask of a host: the commands run, one answer for all."""

    user: str
    answer: Answer = field(default_factory=Answer)
    name: str = "db"
    commands: list[str] = field(default_factory=list)

    def run(self, command: str) -> Answer:
        self.commands.append(command)
        return self.answer


def db(**variables: Any) -> Host:
    return Host("db", ["db"], variables)


def test_the_admin_reads_through_the_auditor_account_and_the_auditor_directly() -> None:
    admin = FakeRemote("deploy", Answer(stdout="3|1\n\n"))
    assert privacy.query(db(), admin, "SELECT 1") == [["3", "1"]]  # type: ignore[arg-type]
    assert admin.commands == ["sudo -n -u auditor psql -XAtq -F'|' -d preau -c 'SELECT 1'"]
    auditor = FakeRemote("auditor")
    privacy.query(db(), auditor, "SELECT 1")  # type: ignore[arg-type]
    assert auditor.commands == ["psql -XAtq -F'|' -d preau -c 'SELECT 1'"]


def test_a_failed_query_names_the_migration_and_no_auditor_role_skips() -> None:
    missing = Answer(1, stderr='ERROR:  relation "preau_audit.platform" does not exist')
    with pytest.raises(AssertionError, match=r"preau_audit.platform.*core.0006"):
        privacy.query(db(), FakeRemote("deploy", missing), "SELECT 1")  # type: ignore[arg-type]
    with pytest.raises(pytest.skip.Exception, match="postgresql_auditor_user"):
        privacy.query(db(postgresql_auditor_user=""), FakeRemote("deploy"), "SELECT 1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("oldest", "problems"),
    [
        (None, []),
        (92, []),
        (
            93,
            [
                "an account gone from every establishment 93 days ago is still kept "
                "(limit 30 + 60 days, + 2 for the daily purge)"
            ],
        ),
    ],
)
def test_an_account_kept_past_both_delays_and_the_purges_slack_fails(
    oldest: int | None, problems: list[str]
) -> None:
    assert privacy.gone_problems(oldest, 30, 60) == problems


def test_delays_above_the_legal_limit_fail_whatever_the_data() -> None:
    assert privacy.gone_problems(None, 30, 61) == [
        "disable_after_days + delete_after_days = 91 days, above the legal 90"
    ]


def test_local_admins_are_listed_per_establishment_and_those_without_are_named() -> None:
    counts = [["0820010R", "0"], ["0820021C", "2"]]
    admins = [["0820021C", "anne.delpech", "t"], ["0820021C", "paul.roux", "f"]]
    lines, missing = privacy.admins_by_establishment(counts, admins)
    assert lines == [
        "0820010R: 0 — none",
        "0820021C: 2 — anne.delpech, paul.roux (never logged in)",
    ]
    assert missing == ["0820010R"]


def test_an_import_before_the_first_of_september_or_none_is_stale() -> None:
    rows = [["0820021C", "2026-09-01"], ["0820010R", "2026-08-31"], ["0820030M", ""]]
    assert privacy.stale_imports(rows, 2026) == ["0820010R (2026-08-31)", "0820030M (never)"]


def test_the_retention_delays_are_the_app_hosts_ones() -> None:
    from pathlib import Path

    from preau_ops.inventory import Inventory

    app = Host("app1", ["app"], {"app_retention_delete_after_days": 45})
    inv = Inventory(path=Path("x"), hosts={"app1": app, "db": db()}, groups={"app": ["app1"]})
    assert privacy.retention_days(inv, db()) == (30, 45)


@pytest.mark.parametrize(
    ("age", "problem"),
    [
        ("", ""),  # no row at all
        ("367", ""),  # the limit + the daily purge's slack
        ("368", "a message is 368 days old (kept 365 days, + 2 for the daily purge)"),
    ],
)
def test_a_message_older_than_its_retention_and_the_purges_slack_fails(
    age: str, problem: str
) -> None:
    assert privacy.kept_too_long("a message", age, 365) == problem


def test_a_closed_establishment_with_data_past_three_months_is_a_finding() -> None:
    rows = [
        ["0820021C", "2026-01-05", "90", "12", "3", "4"],  # on the last day: not yet
        ["0820010R", "2026-01-04", "91", "12", "3", "4"],  # a day late, data left
        ["0820030M", "2025-06-01", "400", "0", "0", "0"],  # purged long ago
    ]
    assert privacy.closed_problems(rows) == [
        "0820010R, closed on 2026-01-04 (91 days ago, limit 90), still holds 12 memberships, "
        "3 classes, 4 files (`establishment purge 0820010R`)"
    ]


def test_the_closed_establishments_control_reads_its_view_and_fails_on_a_late_one() -> None:
    late = FakeRemote("auditor", Answer(stdout="0820010R|2026-01-04|91|0|0|1\n"))
    evidence: list[str] = []
    with pytest.raises(AssertionError, match="0820010R, closed on 2026-01-04"):
        privacy.test_closed_establishments(db(), late, evidence.append)  # type: ignore[arg-type]
    assert "preau_audit.closed_establishments" in late.commands[0]
    assert (
        evidence[1]
        == "0820010R: closed on 2026-01-04, 91 days ago; left: 0 memberships, 0 classes, 1 files"
    )
    done = FakeRemote("auditor", Answer(stdout="0820010R|2026-01-04|91|0|0|0\n"))
    privacy.test_closed_establishments(db(), done, evidence.append)  # type: ignore[arg-type]
