"""Rollback and the schema (issue #23 item 2): the current release's code judges whether the
previous one can run on the schema (`migrate_phase rollback-check`, tested on a real PostgreSQL
in app/tests/test_migration_phases.py); here, what the ops side makes of its answers. The lab's
rollback (tests/lab/test_30_release.py) runs the real check on the ok path."""

from __future__ import annotations

import json

import pytest

from preau_ops.errors import OpsError
from preau_ops.inventory import Host
from preau_ops.release import host as release_host
from preau_ops.runner import Result

APP1 = Host("app1", ["app"], {})


class Answering:
    """A session whose one command answers STDOUT/STDERR with RC (the boundary, faked)."""

    def __init__(self, stdout: str, stderr: str = "", rc: int = 0):
        self.result, self.commands = (stdout, stderr, rc), []

    def run(self, host, command, check=True, **_):
        self.commands.append(command)
        stdout, stderr, rc = self.result
        return Result(host.name, command, rc, stdout, stderr)


def test_the_check_pipes_what_the_previous_code_knows_into_the_current_codes_judge():
    command = release_host.rollback_check_command("2.0", "1.0")
    known, _, judge = command.partition(" | ")
    assert "/releases/1.0/venv/bin/preau-manage migrate_phase known --json" in known
    assert "showmigrations --plan" in known, "a release older than `known` still answers"
    assert "/releases/2.0/venv/bin/preau-manage migrate_phase rollback-check --known -" in judge
    assert judge.count("sudo -u preau-migrate env PREAU_DB_AS_OWNER=1") == 1


def test_no_contract_since_allows_the_rollback():
    answer = {"ok": True, "rollback": "ok", "unknown": [], "contract": [], "restore_to": None}
    session = Answering("noise\n" + json.dumps(answer, indent=2))  # as the app prints it
    assert release_host.rollback_refusal(session, APP1, "2.0", "1.0") is None


def test_a_contract_since_refuses_with_the_apps_reason_and_time():
    error = "retour arrière refusé : core.0099_drop_x … deploy.py backup restore --to 2026-12-05T06:49:59+00:00"
    answer = {"ok": False, "rollback": "refused", "error": error, "contract": ["core.0099_drop_x"]}
    session = Answering(json.dumps(answer), rc=1)
    assert release_host.rollback_refusal(session, APP1, "2.0", "1.0") == error


def test_a_current_release_older_than_the_check_cannot_judge():
    session = Answering(
        "", "preau-manage migrate_phase: error: argument phase: invalid choice: 'rollback-check'", 2
    )
    assert release_host.rollback_refusal(session, APP1, "2.0", "1.0") is None


def test_no_answer_at_all_stops_the_rollback():
    with pytest.raises(OpsError, match="the rollback check of 2.0 gave no JSON answer"):
        release_host.rollback_refusal(Answering("", "Traceback: boom", 1), APP1, "2.0", "1.0")
