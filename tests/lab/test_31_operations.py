"""The operation layer on the lab's ops host (issue #23 item 1): every state-changing command
leaves one chained entry there; a second operator is told who holds the platform; a dead
lock is broken with `operations unlock`, which says so in the log; an edited entry is named by
`operations log` and by the audit (OPS-01), and so is a cut tail."""

import contextlib
import json
import shlex

import pytest

from preau_ops import operations, runner

from .conftest import deploy, failures, run_audit

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]

KEPT = "/root/operations.log.kept"


def _released_ok(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["command"].startswith("release") and e["outcome"] == "ok"]


@pytest.fixture(scope="module")
def released(platform):
    """A successful release in the log: test_30's in the suite's order (this fixture's own
    release of this tree then cost 44-49 s of CI for no new fact), one made here when the
    module runs alone."""
    if not _released_ok(_log()["entries"]):
        deploy("release", timeout=1200)
    return platform


@pytest.fixture(scope="module")
def ops(released):
    return operations.ops_host(released)


def _log() -> dict:
    return json.loads(deploy("operations", "log", "--json").stdout)


def _on_ops(lab, ops, command: str) -> None:
    with runner.FabricSession(ops, lab) as session:
        session.run(ops, command)


def test_the_commands_run_so_far_are_in_the_verified_log(released):
    data = _log()
    commands = [e["command"] for e in data["entries"]]
    assert "bootstrap" in commands, "lab up's bootstrap"
    assert "converge" in commands
    assert data["pending"] == []
    release = _released_ok(data["entries"])[-1]
    assert release["command"].startswith("release ")
    for entry in (release, data["entries"][-1]):
        assert (
            entry["revision"] != "unknown"
            and entry["operator"]
            and entry["ops_host"] == operations.ops_host(released).name
        ), entry
    assert operations.holder(released) is None, "no lock is left once a command has ended"


def test_a_second_operator_is_told_who_holds_the_platform_and_unlock_breaks_it(released, ops):
    owner = {
        "operator": "alice",
        "command": "patch",
        "since": "2026-12-05T08:00:00+00:00",
        "controller": "laptop-alice",
        "token": "alice-token",
    }
    _on_ops(
        released,
        ops,
        f"mkdir -p {operations.LOCK_DIR} && "
        f"echo {shlex.quote(json.dumps(owner))} > {operations.LOCK_DIR}/owner.json",
    )
    try:
        refused = deploy("converge", "--limit", "ops", check=False)
        assert refused.returncode == 1
        assert (
            "alice is running `patch` since 2026-12-05T08:00:00+00:00 from laptop-alice"
            in refused.stdout
        )
        assert "operations unlock" in refused.stdout
        status = deploy("status", check=False).stdout
        assert "Platform lock (ops): alice is running `patch`" in " ".join(status.split())
        not_confirmed = deploy("operations", "unlock", check=False)  # no terminal, no --yes
        assert not_confirmed.returncode == 1 and "confirmation needed" in not_confirmed.stdout
        assert operations.holder(released)["operator"] == "alice"
        assert "alice" in deploy("operations", "unlock", "--yes").stdout
    finally:
        _on_ops(released, ops, f"rm -rf {operations.LOCK_DIR}")
    assert operations.holder(released) is None
    assert "Platform lock (ops): free" in " ".join(deploy("status", check=False).stdout.split())
    last = _log()["entries"][-1]
    assert last["command"] == "operations unlock" and "alice is running `patch`" in last["detail"]


@contextlib.contextmanager
def _tampered(lab, ops, edit: str):
    log = operations.REMOTE_LOG
    _on_ops(lab, ops, f"cp -p {log} {KEPT} && {edit}")
    try:
        yield
    finally:
        _on_ops(lab, ops, f"cp -p {KEPT} {log} && rm -f {KEPT}")


def test_an_edited_entry_is_named_by_the_log_and_the_audit(released, ops):
    edit = f"""sed -i '1s/"operator": "[^"]*"/"operator": "mallory"/' {operations.REMOTE_LOG}"""
    with _tampered(released, ops, edit):
        shown = deploy("operations", "log", check=False)
        assert shown.returncode == 1
        assert "not intact at line 2: the line before it was changed or removed" in shown.stdout
        code, data = run_audit("ops-log-edited", "--control", "OPS-01")
        assert code == 1
        assert "line 2" in failures(data)[("OPS-01", ops.name)]
    # restored, the log passes again: test_60's full audit runs OPS-01 on it


def test_a_cut_tail_is_named_by_the_log_and_the_audit(released, ops):
    with _tampered(released, ops, f"sed -i '$d' {operations.REMOTE_LOG}"):
        shown = deploy("operations", "log", check=False)
        assert shown.returncode == 1 and "no longer has" in shown.stdout
        code, data = run_audit("ops-log-cut", "--control", "OPS-01")
        assert code == 1
        assert "gone or changed" in failures(data)[("OPS-01", ops.name)]
