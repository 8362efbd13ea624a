"""The app's own data rules on real hosts (issue #25 item 5): the DATA controls and BKP-05 pass
on the lab; an account kept past the retention limit and a message older than messages_days,
inserted on purpose, fail DATA-01 and DATA-06 and pass again once removed (as the auditor this
time); the auditor's database role reads the preau_audit views and cannot write.

Cheap: only these controls run. After test_60 the lab is released and converged already; alone,
the file releases this tree's app (migration core.0006) and converges the db host (the
auditor's database access) only when the lab lacks them."""

from __future__ import annotations

import shlex

import pytest

from preau_ops import audit, procedures

from .conftest import deploy, failures, psql, run_audit

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]

PROBE = "audit.retention.probe"
GONE_DAYS = 150  # beyond 30 + 60 days (the lab's [retention]) + 2 for the daily purge
SENT_DAYS = 400  # beyond 365 days (the lab's messages_days) + 2
CONTROLS = ["DATA", "BKP-05"]


def _ready(lab) -> bool:
    """The views exist and the auditor role may reach them, read-only."""
    answer = psql(
        lab,
        "SELECT to_regclass('preau_audit.platform') IS NOT NULL "
        "AND to_regclass('preau_audit.messages') IS NOT NULL "
        "AND has_database_privilege('auditor', 'preau', 'CONNECT') "
        "AND (SELECT 'default_transaction_read_only=on' = ANY(rolconfig) "
        "FROM pg_roles WHERE rolname = 'auditor')",
        "preau",
    )
    return answer == "t"


def _remove_probe(lab) -> None:
    psql(
        lab,
        "DELETE FROM ent_message WHERE conversation_id IN "
        f"(SELECT id FROM ent_conversation WHERE subject = '{PROBE}'); "
        f"DELETE FROM ent_conversation WHERE subject = '{PROBE}'; "
        "DELETE FROM core_membership WHERE user_id IN "
        f"(SELECT id FROM core_user WHERE username = '{PROBE}'); "
        f"DELETE FROM core_user WHERE username = '{PROBE}'",
        "preau",
    )


@pytest.fixture(scope="module")
def ready(lab):
    """This tree's app released, the db host converged (when not already), demo data (an
    establishment with its local admin), and no probe left by an earlier run."""
    if not _ready(lab):
        deploy("release", timeout=1200)
        deploy("converge", "--limit", lab.hosts_in("db")[0].name, timeout=1800)
    assert _ready(lab)
    procedures.app_manage(lab, "seed_demo")
    _remove_probe(lab)
    yield lab
    _remove_probe(lab)


def test_the_data_controls_pass_on_the_lab(ready):
    code, data = run_audit("privacy", "--control", *CONTROLS)
    assert failures(data) == {}, failures(data)
    assert code == 0
    ran = {r["control"] for r in data["results"] if r["status"] == "passed"}
    assert ran == {
        "DATA-01", "DATA-02", "DATA-03", "DATA-04", "DATA-05", "DATA-06", "DATA-07", "BKP-05",
    }, ran  # fmt: skip
    evidence = {r["control"]: r["evidence"] for r in data["results"]}
    assert any("0820021C: " in line and "demo.adml" in line for line in evidence["DATA-03"])
    assert any("cipher aes-256-cbc" in line for line in evidence["BKP-05"])


def test_an_account_and_a_message_kept_past_the_limits_fail_retention_until_removed(ready):
    psql(
        ready,
        "WITH u AS (INSERT INTO core_user (password, is_superuser, username, first_name, "
        "last_name, title, email, is_active, is_staff, activation_code, date_joined) VALUES "
        f"('!', false, '{PROBE}', '', '', '', '', false, false, '', now() - interval "
        f"'{GONE_DAYS + 100} days') RETURNING id) "
        "INSERT INTO core_membership (user_id, establishment_id, profile, is_local_admin, "
        "source, gone_since, disabled, created_at) SELECT u.id, e.id, 'ELV', false, 'aaf', "
        f"(now() AT TIME ZONE 'Europe/Paris')::date - {GONE_DAYS}, false, now() FROM u, "
        "(SELECT id FROM core_establishment "
        "WHERE status = 'active' ORDER BY id LIMIT 1) e",
        "preau",
    )
    psql(  # a conversation whose only message was sent SENT_DAYS ago
        ready,
        "WITH c AS (INSERT INTO ent_conversation (establishment_id, subject, created_at, "
        f"last_message_at) SELECT id, '{PROBE}', now() - interval '{SENT_DAYS} days', "
        f"now() - interval '{SENT_DAYS} days' FROM core_establishment ORDER BY id LIMIT 1 "
        "RETURNING id) INSERT INTO ent_message (conversation_id, body, sent_at) "
        f"SELECT c.id, 'probe', now() - interval '{SENT_DAYS} days' FROM c",
        "preau",
    )
    code, data = run_audit("privacy-kept", "--control", "DATA-01", "DATA-06")
    found = failures(data)
    db = ready.hosts_in("db")[0].name
    assert set(found) == {("DATA-01", db), ("DATA-06", db)}, found
    assert f"gone from every establishment {GONE_DAYS} days ago" in found[("DATA-01", db)]
    assert f"a message is {SENT_DAYS} days old (kept 365 days" in found[("DATA-06", db)]
    assert code != 0
    _remove_probe(ready)
    code, data = run_audit("privacy-purged", "--as-auditor", "--control", "DATA-01", "DATA-06")
    assert failures(data) == {}, failures(data)
    assert code == 0 and data["as_auditor"]


def test_the_auditor_reads_the_views_and_cannot_write(ready):
    auditor = audit.Remote(ready.hosts_in("db")[0], as_auditor=True)

    def as_auditor(sql: str):
        return auditor.run(f"psql -XAtq -d preau -c {shlex.quote(sql)}")

    read = as_auditor("SELECT school_year FROM preau_audit.platform")
    assert read.rc == 0 and read.stdout.strip().isdigit(), read.stderr
    insert = (
        "INSERT INTO core_loginattempt (username, at, success, prefix) "
        "VALUES ('x', now(), true, '')"
    )
    refused = as_auditor(insert)
    assert refused.rc != 0 and "read-only transaction" in refused.stderr, refused.stderr
    forced = as_auditor(f"BEGIN READ WRITE; {insert}; COMMIT")
    assert forced.rc != 0 and "permission denied" in forced.stderr, forced.stderr
    table = as_auditor("SELECT count(*) FROM core_user")
    assert table.rc != 0 and "permission denied" in table.stderr, table.stderr
