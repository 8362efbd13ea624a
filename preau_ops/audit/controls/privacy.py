"""The app's own data rules (issue #25 item 5): retention, local administrators, accounts never
activated, directory imports. Read-only: psql on the db host as the auditor's database role
(`postgresql_auditor_user`: peer authentication, every session read-only), which reads only the
`preau_audit` views of the app's migrations core.0006, core.0008 and core.0010 (counts and dates;
the local administrators' logins) and no table.

The admin reaches that role with `sudo -n -u auditor` (the base role's runas list); the
auditor (`--as-auditor`) is that account already. What the other rules of item 5 need is
checked elsewhere: backups encrypted BKP-05, a restore drill ≤ 26 h BKP-04 (stricter than
8 days), a full backup ≤ 8 days BKP-01; certificates' expiry TLS-03 (the public one, ≥ 14
days) and PKI-01 (each host's, > 30 days).
"""

from __future__ import annotations

import datetime
import shlex
from collections.abc import Sequence

import pytest

from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.inventory import Host, Inventory

from .. import declared

control = pytest.mark.control

# RGPD art. 5-1-e (storage limitation). The app's limits: app/src/preau/config.py
# RETENTION_MAX_DAYS (the ENT's legal limit, 3 months, arrêté of 30 Nov 2006 as amended) caps
# [retention] disable_after_days + delete_after_days; purge_gone applies them daily and keeps
# connection logs one year (docs/domain.md, "Retention").
RETENTION_MAX_DAYS = 90
CONNECTION_LOG_DAYS = 365
# purge_gone runs once a day (preau.jobs.tasks: 02:30 UTC): disabling, then deleting, may each
# wait for the next day's run.
PURGE_SLACK_DAYS = 2
NEVER_ACTIVATED_DAYS = 30  # default of preau_audit_never_activated_days: a code's validity
SCHOOL_YEAR_START = (9, 1)  # core.models.school_year_of: a school year starts in September


def query(host: Host, remote: Remote, sql: str) -> list[list[str]]:
    """Rows of SQL in the app database, as the auditor's read-only database role."""
    role = declared.var(host, "postgresql_auditor_user", "auditor")
    if not role:
        pytest.skip("no auditor database role (postgresql_auditor_user is empty)")
    database = declared.var(host, "postgresql_app_database", "preau")
    psql = f"psql -XAtq -F'|' -d {database} -c {shlex.quote(sql)}"
    result = remote.run(psql if remote.user == role else f"sudo -n -u {role} {psql}")
    if result.rc != 0:
        raise AssertionError(
            f"{remote.name}: the auditor's read-only query failed ({result.rc}): "
            f"{result.stderr.strip()[-300:]} (the preau_audit views come with the app's "
            "migration core.0006: release the app; the role's access with a converge)"
        )
    return [line.split("|") for line in result.stdout.splitlines() if line.strip()]


def retention_days(inv: Inventory, host: Host) -> tuple[int, int]:
    """(disable_after_days, delete_after_days) as the app hosts are configured."""
    app = inv.hosts_in("app")
    source = app[0] if app else host
    return (
        int(declared.var(source, "app_retention_disable_after_days", 30)),
        int(declared.var(source, "app_retention_delete_after_days", 60)),
    )


def gone_problems(oldest_left_days: int | None, disable: int, delete: int) -> list[str]:
    """What is wrong with the earliest departure of an account still kept."""
    problems = []
    if disable + delete > RETENTION_MAX_DAYS:
        problems.append(
            f"disable_after_days + delete_after_days = {disable + delete} days, above the "
            f"legal {RETENTION_MAX_DAYS}"
        )
    limit = disable + delete + PURGE_SLACK_DAYS
    if oldest_left_days is not None and oldest_left_days > limit:
        problems.append(
            f"an account gone from every establishment {oldest_left_days} days ago is still "
            f"kept (limit {disable} + {delete} days, + {PURGE_SLACK_DAYS} for the daily purge)"
        )
    return problems


@control(
    "DATA-01",
    "No account kept past the retention limit after its holder left every establishment",
    "RGPD art. 5-1-e (storage limitation); the ENT's 3-month limit "
    "(app/src/preau/config.py RETENTION_MAX_DAYS, [retention]; purge_gone)",
    groups=("db",),
)
def test_gone_accounts(inv: Inventory, host: Host, remote: Remote, evidence: Evidence) -> None:
    disable, delete = retention_days(inv, host)
    [[accounts, active, oldest, age]] = query(
        host,
        remote,
        "SELECT g.accounts, g.active, coalesce(g.oldest_left_on::text, ''), "
        "coalesce((p.today - g.oldest_left_on)::text, '') "
        "FROM preau_audit.gone_accounts g, preau_audit.platform p",
    )
    evidence(
        f"accounts gone from every establishment: {accounts} ({active} still active)"
        + (f"; the earliest left on {oldest}, {age} days ago" if oldest else "")
        + f"; limit: disabled after {disable} days, deleted {delete} days later"
    )
    problems = gone_problems(int(age) if age else None, disable, delete)
    assert not problems, "; ".join(problems)


@control(
    "DATA-02",
    "No connection log older than a year",
    "RGPD art. 5-1-e (storage limitation); the project's rule: connection logs kept one year "
    "(purge_gone, docs/domain.md)",
    groups=("db",),
)
def test_connection_logs(host: Host, remote: Remote, evidence: Evidence) -> None:
    entries, oldest, age = oldest_row(host, remote, "connection_logs", "entries")
    evidence(
        f"connection log entries: {entries}"
        + (f"; the oldest {oldest} UTC, {age} days ago" if oldest else "")
    )
    problem = kept_too_long("a connection log entry", age, CONNECTION_LOG_DAYS)
    assert not problem, problem


@control(
    "DATA-06",
    "No message older than the platform's messages retention",
    "RGPD art. 5-1-e (storage limitation); the platform's rule: [retention] messages_days "
    "(app_retention_messages_days, one year by default; purge_gone, docs/domain.md)",
    groups=("db",),
)
def test_messages(inv: Inventory, host: Host, remote: Remote, evidence: Evidence) -> None:
    app = inv.hosts_in("app")
    days = int(declared.var(app[0] if app else host, "app_retention_messages_days", 365))
    messages, oldest, age = oldest_row(host, remote, "messages", "messages")
    evidence(
        f"messages: {messages}"
        + (f"; the oldest sent {oldest} UTC, {age} days ago" if oldest else "")
        + f"; limit: {days} days"
    )
    problem = kept_too_long("a message", age, days)
    assert not problem, problem


def closed_problems(rows: Sequence[Sequence[str]]) -> list[str]:
    """The closed establishments (UAI, closing day, days since, memberships, classes, files)
    still holding data past the legal limit: every account's right to the ENT ended with the
    closing, so its data leave the ENT within RETENTION_MAX_DAYS (`establishment purge`, an
    operator's step: no slack for a daily run)."""
    problems = []
    for uai, closed_on, age, memberships, classes, files in rows:
        left = int(memberships) + int(classes) + int(files)
        if left and int(age) > RETENTION_MAX_DAYS:
            problems.append(
                f"{uai}, closed on {closed_on} ({age} days ago, limit {RETENTION_MAX_DAYS}), "
                f"still holds {memberships} memberships, {classes} classes, {files} files "
                f"(`establishment purge {uai}`)"
            )
    return problems


@control(
    "DATA-07",
    "No closed establishment's data kept past the legal limit",
    "RGPD art. 5-1-e; arrêté of 30 Nov 2006 art. 6 (data leave the ENT within 3 months once "
    "a person may no longer hold an account: a closed establishment's every member); "
    '`establishment close`, `purge` (docs/domain.md, "Closing an establishment")',
    groups=("db",),
)
def test_closed_establishments(host: Host, remote: Remote, evidence: Evidence) -> None:
    rows = query(
        host,
        remote,
        "SELECT c.uai, c.closed_on, p.today - c.closed_on, c.memberships, c.classes, c.files "
        "FROM preau_audit.closed_establishments c, preau_audit.platform p ORDER BY c.uai",
    )
    evidence(f"closed establishments: {len(rows)}; limit: {RETENTION_MAX_DAYS} days")
    for uai, closed_on, age, memberships, classes, files in rows:
        evidence(
            f"{uai}: closed on {closed_on}, {age} days ago; left: {memberships} memberships, "
            f"{classes} classes, {files} files"
        )
    problems = closed_problems(rows)
    assert not problems, "; ".join(problems)


def oldest_row(host: Host, remote: Remote, view: str, count: str) -> tuple[str, str, str]:
    """(how many rows, the oldest's date in UTC, its age in whole days; '' when none) of a
    preau_audit view with a count column and an `oldest` timestamp."""
    [[rows, oldest, age]] = query(
        host,
        remote,
        f"SELECT {count}, coalesce(to_char(oldest AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), ''), "
        "coalesce(extract(day FROM now() - oldest)::int::text, '') "
        f"FROM preau_audit.{view}",
    )
    return rows, oldest, age


def kept_too_long(what: str, age: str, days: int) -> str:
    """What is wrong when the oldest row (`age` days, '' for none) outlived its `days`."""
    if not age or int(age) <= days + PURGE_SLACK_DAYS:
        return ""
    return f"{what} is {age} days old (kept {days} days, + {PURGE_SLACK_DAYS} for the daily purge)"


def admins_by_establishment(
    counts: Sequence[Sequence[str]], admins: Sequence[Sequence[str]]
) -> tuple[list[str], list[str]]:
    """(one evidence line per establishment, the UAIs without a local administrator)."""
    names: dict[str, list[str]] = {}
    for uai, username, activated in admins:
        names.setdefault(uai, []).append(
            username + ("" if activated == "t" else " (never logged in)")
        )
    lines = [f"{uai}: {count} — {', '.join(names.get(uai, [])) or 'none'}" for uai, count in counts]
    return lines, [uai for uai, count in counts if int(count) == 0]


@control(
    "DATA-03",
    "Every active establishment has a local administrator",
    "The local administrator (ADML) manages their establishment's accounts "
    "(docs/domain.md, docs/security.md: ADML; deploy.py establishment add --admin)",
    groups=("db",),
)
def test_local_admins(host: Host, remote: Remote, evidence: Evidence) -> None:
    counts = query(
        host, remote, "SELECT uai, local_admins FROM preau_audit.establishments ORDER BY uai"
    )
    admins = query(
        host,
        remote,
        "SELECT uai, username, activated FROM preau_audit.local_admins ORDER BY uai, username",
    )
    lines, missing = admins_by_establishment(counts, admins)
    evidence(f"active establishments: {len(counts)}")
    for line in lines:
        evidence(line)
    assert not missing, f"no local administrator in {', '.join(missing)}"


@control(
    "DATA-04",
    "Members who never logged in, long after their account was made (warning, never fails)",
    "RGPD art. 5-1-c (data minimisation): accounts made by the directory feed but unused; "
    "the period: inventory preau_audit_never_activated_days (default 30, an activation "
    "code's validity)",
    groups=("db",),
)
def test_never_activated(host: Host, remote: Remote, evidence: Evidence) -> None:
    """A warning, not a failure: the account exists because the académie's directory lists a
    current member (its deletion follows their departure, DATA-01), and activating it is the
    establishment's task (handing out codes), not a fault of the platform. The list tells the
    auditor where accounts sit unused."""
    days = int(declared.var(host, "preau_audit_never_activated_days", NEVER_ACTIVATED_DAYS))
    rows = query(
        host,
        remote,
        "SELECT n.uai, sum(n.accounts) FROM preau_audit.never_activated n, "
        f"preau_audit.platform p WHERE n.joined_on < p.today - {days} "
        "GROUP BY n.uai ORDER BY 2 DESC, 1",
    )
    total = sum(int(count) for _, count in rows)
    evidence(
        f"members never logged in {days} days after their account was made: {total}"
        + (" (WARNING)" if total else "")
    )
    for uai, count in rows:
        evidence(f"{uai}: {count}")


def stale_imports(rows: Sequence[Sequence[str]], school_year: int) -> list[str]:
    """The establishments whose last import (YYYY-MM-DD, '' for none) is before the school
    year's first day."""
    start = datetime.date(school_year, *SCHOOL_YEAR_START).isoformat()
    return [f"{uai} ({last or 'never'})" for uai, last in rows if not last or last < start]


@control(
    "DATA-05",
    "Every active establishment's directory was imported this school year",
    "Accuracy and retention depend on a current feed (RGPD art. 5-1-d, art. 5-1-e): a member "
    "absent from the last complete AAF import is marked gone (docs/domain.md, AAF)",
    groups=("db",),
)
def test_imports_this_year(host: Host, remote: Remote, evidence: Evidence) -> None:
    [[year]] = query(host, remote, "SELECT school_year FROM preau_audit.platform")
    rows = query(
        host,
        remote,
        "SELECT uai, coalesce(to_char(last_import AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD'), "
        "'') FROM preau_audit.establishments ORDER BY uai",
    )
    evidence(f"school year {year}-{int(year) + 1}; active establishments: {len(rows)}")
    for uai, last in rows:
        evidence(f"{uai}: last import {last or 'never'}")
    stale = stale_imports(rows, int(year))
    assert not stale, f"no directory import since {year}-09-01: {', '.join(stale)}"
