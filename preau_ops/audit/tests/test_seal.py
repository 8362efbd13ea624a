"""Sealed evidence with a real GnuPG and throwaway keys made here (a temporary GNUPGHOME):
the manifest, its signature, and `verify` naming each problem (a file changed, added or
removed, a signature by another key or of an edited manifest, no signature)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from preau_ops.audit import seal
from preau_ops.errors import OpsError

pytestmark = pytest.mark.skipif(not shutil.which("gpg"), reason="gpg (package gnupg) missing")


class Keyring:
    """A GNUPGHOME of its own with one passphrase-less signing key (short path: the agent's
    socket lives in it)."""

    def __init__(self, name: str) -> None:
        self.home = tempfile.mkdtemp(prefix="preau-gpg-test-")
        self.uid = f"{name} <{name.lower()}@example.org>"
        self.gpg("--passphrase", "", "--quick-gen-key", self.uid, "ed25519", "sign", "never")

    def gpg(self, *args: str) -> str:
        return subprocess.run(
            ["gpg", "--batch", "--homedir", self.home, *args],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    def public_key(self, path: Path) -> Path:
        path.write_text(self.gpg("--armor", "--export", self.uid))
        return path

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"], check=False)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def auditor() -> Iterator[Keyring]:
    keyring = Keyring("Auditor")
    yield keyring
    keyring.close()


@pytest.fixture(scope="module")
def stranger() -> Iterator[Keyring]:
    keyring = Keyring("Operator")
    yield keyring
    keyring.close()


ABOUT = {"inventory": "lab", "inventory_sha256": "ab" * 32, "revision": "3db84fd0a1b2"}


@pytest.fixture
def sealed(tmp_path: Path, auditor: Keyring, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A report directory sealed and signed with the auditor's key."""
    monkeypatch.setenv("GNUPGHOME", auditor.home)
    report = tmp_path / "report"
    (report / "sub").mkdir(parents=True)
    (report / "audit.json").write_text('{"score": 100.0}\n')
    (report / "audit.html").write_text("<!DOCTYPE html>\n")
    (report / "sub" / "shot.png").write_bytes(b"\x89PNG")
    seal.write(report, ABOUT)
    seal.sign(report, auditor.uid)
    return report


def test_the_manifest_lists_every_file_and_its_facts(sealed: Path, tmp_path: Path) -> None:
    text = (sealed / "MANIFEST").read_text()
    assert "revision: 3db84fd0a1b2" in text and "inventory_sha256: " + "ab" * 32 in text
    listed = [line.split("  ")[1] for line in text.split("\n\n")[1].splitlines()]
    assert listed == ["audit.html", "audit.json", "sub/shot.png"]
    # sha256sum itself agrees with it
    body = text.split("\n\n", 1)[1]
    (tmp_path / "sums").write_text(body)
    check = subprocess.run(["sha256sum", "-c", str(tmp_path / "sums")], cwd=sealed, check=False)
    assert check.returncode == 0


def test_an_intact_directory_verifies(sealed: Path, auditor: Keyring, tmp_path: Path) -> None:
    about, problems = seal.verify(sealed, auditor.public_key(tmp_path / "auditor.asc"))
    assert problems == [] and about == ABOUT


def test_an_edited_file_fails(sealed: Path, auditor: Keyring, tmp_path: Path) -> None:
    (sealed / "audit.json").write_text('{"score": 100.0} \n')
    _, problems = seal.verify(sealed, auditor.public_key(tmp_path / "auditor.asc"))
    assert problems == ["audit.json: changed (its SHA-256 differs from the manifest's)"]


def test_an_added_and_a_removed_file_fail(sealed: Path) -> None:
    (sealed / "extra.txt").write_text("x")
    (sealed / "sub" / "shot.png").unlink()
    _, problems = seal.verify(sealed, None)
    assert problems == [
        "sub/shot.png: missing (listed in the manifest)",
        "extra.txt: added (not in the manifest)",
    ]


def test_an_edited_manifest_fails_its_signature(
    sealed: Path, auditor: Keyring, tmp_path: Path
) -> None:
    """Someone changes a file and rewrites its sum in the manifest: the sums agree again,
    the signature does not."""
    (sealed / "audit.json").write_text('{"score": 100.0, "edited": true}\n')
    manifest = sealed / "MANIFEST"
    manifest.write_text(seal.manifest_text(sealed, ABOUT))
    _, problems = seal.verify(sealed, auditor.public_key(tmp_path / "auditor.asc"))
    assert problems == [
        "bad signature: MANIFEST.asc does not match MANIFEST (it was changed after signing)"
    ]


def test_another_key_fails(sealed: Path, stranger: Keyring, tmp_path: Path) -> None:
    _, problems = seal.verify(sealed, stranger.public_key(tmp_path / "operator.asc"))
    assert problems == [
        f"bad signature: MANIFEST.asc was not made by the key in {tmp_path / 'operator.asc'}"
    ]


def test_a_manifest_signed_by_another_key_fails(
    sealed: Path,
    auditor: Keyring,
    stranger: Keyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An operator re-signs an edited directory with their own key: the auditor's key refuses."""
    (sealed / "audit.json").write_text("{}\n")
    seal.write(sealed, ABOUT)
    monkeypatch.setenv("GNUPGHOME", stranger.home)
    seal.sign(sealed, stranger.uid)
    _, problems = seal.verify(sealed, auditor.public_key(tmp_path / "auditor.asc"))
    assert problems and problems[0].startswith("bad signature: MANIFEST.asc was not made by")


def test_unsigned(tmp_path: Path, auditor: Keyring) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "audit.json").write_text("{}")
    seal.write(report, ABOUT)
    assert seal.verify(report, None)[1] == []  # the sums alone, no key asked
    key = auditor.public_key(tmp_path / "auditor.asc")
    assert seal.verify(report, key)[1] == ["unsigned: no MANIFEST.asc"]
    assert seal.verify(tmp_path, key)[1] == ["MANIFEST missing: nothing to check"]


def test_signing_with_a_key_not_held_is_an_ops_error(
    tmp_path: Path, auditor: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNUPGHOME", auditor.home)
    seal.write(tmp_path, ABOUT)
    with pytest.raises(OpsError, match="could not sign"):
        seal.sign(tmp_path, "nobody@example.org")


def test_the_inventory_hash_is_stable_and_covers_the_vault_as_encrypted(tmp_path: Path) -> None:
    inv = tmp_path / "inv"
    (inv / "group_vars/all").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all: {}\n")
    vault = inv / "group_vars/all/vault.yml"
    vault.write_text("$ANSIBLE_VAULT;1.1;AES256\n6161\n")
    first = seal.inventory_hash(inv)
    assert seal.inventory_hash(inv) == first and len(first) == 64
    vault.write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")  # re-encrypted: another hash
    assert seal.inventory_hash(inv) != first
