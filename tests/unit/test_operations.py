"""The operation layer (issue #23 item 1): one lock, one chained log, for every command that
changes the platform. The ops host is a local stand-in (conftest's LocalOpsHost: its shell
commands run here on tmp paths); the lab suite runs the same layer on the real ops host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preau_ops import converge, operations
from preau_ops.errors import OpsError
from preau_ops.inventory import Host, Inventory

from .conftest import LocalOpsHost


@pytest.fixture
def inv(tmp_path):
    hosts = {
        "app1": Host("app1", ["app"], {"ansible_host": "192.0.2.21", "preau_operator": "bob"}),
        "ops": Host("ops", ["monitoring"], {"ansible_host": "192.0.2.51"}),
    }
    return Inventory(
        path=tmp_path / "site", hosts=hosts, groups={"app": ["app1"], "monitoring": ["ops"]}
    )


def remote_entries() -> list[dict]:
    return operations.verify(Path(operations.REMOTE_LOG).read_text())


def plant_lock(owner: dict) -> None:
    lock = Path(operations.LOCK_DIR)
    lock.mkdir(parents=True)
    (lock / "owner.json").write_text(json.dumps(owner))


def test_each_operation_appends_one_chained_entry_here_and_on_the_ops_host(inv):
    with operations.operation(inv, "release 1.2.3") as record:
        assert Path(operations.LOCK_DIR).is_dir(), "the lock is held while it runs"
        record.detail, record.backup = "switched app1", "20261205-full"
    with operations.operation(inv, "converge"):
        pass
    first, second = remote_entries()
    assert (first["seq"], first["command"], first["outcome"]) == (1, "release 1.2.3", "ok")
    assert (first["operator"], first["inventory"], first["ops_host"]) == ("bob", "site", "ops")
    assert (first["detail"], first["backup"]) == ("switched app1", "20261205-full")
    assert first["revision"] and first["start"] <= first["end"]
    assert second["prev"] == operations.line_hash(
        Path(operations.REMOTE_LOG).read_text().splitlines()[0]
    )
    assert operations.LOCAL_LOG.read_text() == Path(operations.REMOTE_LOG).read_text()
    assert not Path(operations.LOCK_DIR).exists(), "the lock is released"


def test_a_second_operator_is_told_who_holds_the_platform(inv):
    plant_lock(
        {
            "operator": "alice",
            "command": "patch",
            "since": "2026-12-05T10:00:00+00:00",
            "controller": "laptop-alice",
            "token": "x",
        }
    )
    with pytest.raises(OpsError) as refused, operations.operation(inv, "release 1.2.3"):
        pytest.fail("ran while another operation held the platform")
    message = refused.value.message
    assert "alice" in message and "`patch`" in message and "2026-12-05T10:00:00" in message
    assert "laptop-alice" in message and "operations unlock" in refused.value.hint
    assert (Path(operations.LOCK_DIR) / "owner.json").exists(), "alice's lock is left alone"


def test_a_failure_is_recorded_with_its_reason_and_the_lock_released(inv):
    with pytest.raises(OpsError, match="canary"), operations.operation(inv, "release 1.2.4"):
        raise OpsError("1.2.4 does not start on app1: canary answered 500")
    (entry,) = remote_entries()
    assert entry["outcome"] == "failed" and "canary answered 500" in entry["detail"]
    assert not Path(operations.LOCK_DIR).exists()


def test_a_failed_result_without_exception_is_a_failure(inv):
    with operations.operation(inv, "converge") as record:
        record.failed = "failed on db1"
    (entry,) = remote_entries()
    assert entry["outcome"] == "failed" and entry["detail"].startswith("failed on db1")


def test_a_nested_command_runs_inside_the_outer_operation(inv):
    with (
        operations.operation(inv, "pki rotate"),
        operations.operation(inv, "converge --tags pki") as inner,
    ):
        inner.detail = "inner detail stays out"
    (entry,) = remote_entries()
    assert entry["command"] == "pki rotate" and entry["within"] == ["converge --tags pki"]
    assert entry["detail"] == ""


def test_an_edited_or_deleted_line_breaks_the_chain(inv):
    for n in range(3):
        with operations.operation(inv, f"establishment add 082090{n}J"):
            pass
    log = Path(operations.REMOTE_LOG)
    lines = log.read_text().splitlines()
    assert len(operations.verify(log.read_text())) == 3
    edited = lines[0].replace('"ok"', '"failed"')
    with pytest.raises(OpsError, match="line 2: the line before it was changed"):
        operations.verify("\n".join([edited, *lines[1:]]))
    with pytest.raises(OpsError, match="line 2: entry number 3, 2 due"):
        operations.verify("\n".join([lines[0], lines[2]]))
    with pytest.raises(OpsError, match="line 1: not a JSON line"):
        operations.verify("garbage\n" + "\n".join(lines))


def test_an_entry_that_cannot_reach_the_ops_host_waits_and_goes_first_next_time(inv, monkeypatch):
    with operations.operation(inv, "patch"):
        monkeypatch.setattr(LocalOpsHost, "reachable", False)  # the ops host goes away
    assert [e["command"] for e in operations.pending()] == ["patch"]
    assert not Path(operations.REMOTE_LOG).exists()
    monkeypatch.setattr(LocalOpsHost, "reachable", True)
    with operations.operation(inv, "converge"):
        pass
    assert [e["command"] for e in remote_entries()] == ["patch", "converge"]
    assert operations.pending() == []


def test_pending_entries_of_another_ops_host_stay_pending(inv, monkeypatch):
    other = Inventory(
        path=inv.path.parent / "other",
        hosts={"mon9": Host("mon9", ["monitoring"], {})},
        groups={"monitoring": ["mon9"]},
    )
    monkeypatch.setattr(LocalOpsHost, "reachable", False)
    with pytest.raises(OpsError), operations.operation(other, "converge"):
        pass
    with operations.operation(other, "bootstrap", platform_lock=False):
        pass
    monkeypatch.setattr(LocalOpsHost, "reachable", True)
    with operations.operation(inv, "converge"):
        pass
    assert [e["command"] for e in remote_entries()] == ["converge"]
    assert [(e["command"], e["ops_host"]) for e in operations.pending()] == [("bootstrap", "mon9")]


def test_bootstrap_takes_no_platform_lock_but_appends_its_entry(inv):
    plant_lock({"operator": "alice", "command": "converge", "since": "t", "token": "a"})
    with operations.operation(inv, "bootstrap", platform_lock=False):
        pass  # runs although the platform is locked: the ops host may not even take logins
    assert [e["command"] for e in operations.pending()] == ["bootstrap"], "alice holds the lock"
    Path(operations.LOCK_DIR, "owner.json").unlink()
    Path(operations.LOCK_DIR).rmdir()
    with operations.operation(inv, "bootstrap", platform_lock=False):
        pass
    assert [e["command"] for e in remote_entries()] == ["bootstrap", "bootstrap"]
    assert not Path(operations.LOCK_DIR).exists()


def test_unlock_breaks_a_dead_lock_and_records_whose_it_was(inv):
    plant_lock({"operator": "alice", "command": "patch", "since": "t", "token": "a"})
    assert operations.unlock(inv)["operator"] == "alice"
    assert operations.holder(inv) is None
    (entry,) = remote_entries()
    assert entry["command"] == "operations unlock" and "alice is running `patch`" in entry["detail"]
    assert operations.unlock(inv) is None


def test_a_lock_broken_meanwhile_is_said_and_the_new_one_kept(inv):
    import shutil

    with operations.operation(inv, "patch"):
        shutil.rmtree(operations.LOCK_DIR)  # another controller's `operations unlock`
        plant_lock({"operator": "carol", "command": "release 2", "since": "t", "token": "c"})
    (entry,) = remote_entries()
    assert entry["command"] == "patch" and "lock was broken meanwhile" in entry["detail"]
    assert operations.holder(inv)["operator"] == "carol"


def test_one_operation_at_a_time_from_one_controller(inv):
    """A second deploy.py here (a thread: no outer operation) is refused before it even
    reaches the ops host."""
    from concurrent.futures import ThreadPoolExecutor

    def second():
        with operations.operation(inv, "release 2"):
            pass

    refused = pytest.raises(OpsError, match="another operation is running from this controller")
    with operations.operation(inv, "converge"), ThreadPoolExecutor(1) as pool, refused:
        pool.submit(second).result()
    assert [e["command"] for e in remote_entries()] == ["converge"]


def test_converge_records_an_operation_and_check_mode_none(inv, monkeypatch):
    class Result:
        changed = 2
        failed = True
        hosts = {"ops": type("H", (), {"failed": 1, "unreachable": False})()}

    monkeypatch.setattr(converge, "_run_playbook", lambda *args: Result())
    converge.run_playbook(inv, check=True)
    assert not Path(operations.REMOTE_LOG).exists(), "a --check run changes nothing: no entry"
    converge.run_playbook(inv, limit="ops", tags="pki")
    (entry,) = remote_entries()
    assert entry["command"] == "converge --limit ops --tags pki"
    assert entry["outcome"] == "failed" and "failed on ops" in entry["detail"]
