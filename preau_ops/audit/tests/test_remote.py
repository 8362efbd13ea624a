"""How the audit sees a host as the read-only auditor account (auditor_of), on hosts built
here. Connecting (Remote) is the lab's to test: tests/lab/test_60_audit.py."""

from __future__ import annotations

import pytest

from preau_ops.audit.remote import auditor_of
from preau_ops.inventory import Host
from preau_ops.paths import STATE_DIR


def admin(key: str | None, **variables: str) -> Host:
    values = {"ansible_host": "10.0.0.5", "ansible_user": "alice", **variables}
    if key:
        values["ansible_ssh_private_key_file"] = key
    return Host("db1", ["db"], values)


def test_the_auditor_account_with_the_lab_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREAU_AUDITOR_SSH_KEY", raising=False)
    lab_key = str(STATE_DIR / "ssh" / "id_ed25519")
    auditor = auditor_of(admin(lab_key))
    assert (auditor.user, auditor.key_file, auditor.address) == ("auditor", lab_key, "10.0.0.5")


def test_an_admin_key_elsewhere_is_not_lent_to_the_auditor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREAU_AUDITOR_SSH_KEY", raising=False)
    auditor = auditor_of(admin("/home/alice/.ssh/id_ed25519", base_auditor_user="audit-ro"))
    assert (auditor.user, auditor.key_file) == ("audit-ro", None)


def test_the_auditor_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREAU_AUDITOR_SSH_KEY", "/keys/auditor")
    assert auditor_of(admin("/home/alice/.ssh/id_ed25519")).key_file == "/keys/auditor"
    assert auditor_of(admin(None)).key_file == "/keys/auditor"


def test_the_admin_host_is_left_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREAU_AUDITOR_SSH_KEY", raising=False)
    host = admin("/home/alice/.ssh/id_ed25519")
    auditor_of(host)
    assert (host.user, host.key_file) == ("alice", "/home/alice/.ssh/id_ed25519")


def test_every_command_run_goes_to_the_running_controls_evidence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from preau_ops import runner
    from preau_ops.audit.remote import Remote

    answer = SimpleNamespace(rc=1, stdout="", stderr="sudo: a password is required")
    fake = SimpleNamespace(run=lambda command: answer)
    monkeypatch.setattr(runner, "testinfra_host", lambda *a, **k: fake)
    seen: list[tuple[str, int, str]] = []
    remote = Remote(admin(None))
    assert remote.root_out("/usr/sbin/nft list ruleset") is None  # no sink yet: nothing kept
    remote.evidence = SimpleNamespace(command=lambda *a: seen.append(a))  # type: ignore[assignment]
    remote.root_out("/usr/sbin/nft list ruleset")
    assert seen == [("db1$ sudo -n /usr/sbin/nft list ruleset", 1, "sudo: a password is required")]
