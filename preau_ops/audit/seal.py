"""Sealed evidence: the report directory's MANIFEST (the SHA-256 of every file, the audit
code's revision, a SHA-256 of the inventory audited) and its detached signature MANIFEST.asc,
made with the auditor's own GnuPG key (which operators do not hold); `verify` checks them.

The inventory's hash covers its files in path order, each as its path and its bytes' SHA-256:
vault files by their encrypted bytes, so the hash says nothing of a secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OpsError

MANIFEST = "MANIFEST"
SIGNATURE = "MANIFEST.asc"
HEADER = "# Préau audit manifest: sha256sum -c checks the lines after the blank one"
SEAL = (MANIFEST, SIGNATURE)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[str]:
    """Every file under directory (relative, in order) but the seal itself."""
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if p.is_file() and str(p.relative_to(directory)) not in SEAL
    )


def inventory_hash(path: Path) -> str:
    """SHA-256 over the inventory directory's files: `relative path NUL sha256 LF` each."""
    digest = hashlib.sha256()
    for name in _files(path):
        digest.update(f"{name}\0{_sha256(path / name)}\n".encode())
    return digest.hexdigest()


def manifest_text(directory: Path, about: dict[str, str]) -> str:
    lines = [HEADER, *(f"{key}: {value}" for key, value in about.items()), ""]
    lines += [f"{_sha256(directory / name)}  {name}" for name in _files(directory)]
    return "\n".join(lines) + "\n"


def write(directory: Path, about: dict[str, str]) -> Path:
    """MANIFEST in directory (an older signature removed: it no longer matches)."""
    (directory / SIGNATURE).unlink(missing_ok=True)
    path = directory / MANIFEST
    path.write_text(manifest_text(directory, about))
    return path


def sign(directory: Path, key: str) -> Path:
    """MANIFEST.asc: a detached armoured signature with KEY from the keyring GNUPGHOME names."""
    _need_gpg()
    signature = directory / SIGNATURE
    command = ["gpg", "--yes", "--armor", "--local-user", key, "--detach-sign"]
    if not sys.stdin.isatty():
        command.append("--batch")  # a key with a passphrase is asked for at a terminal only
    result = subprocess.run(
        [*command, "--output", str(signature), str(directory / MANIFEST)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise OpsError(
            f"gpg could not sign {directory / MANIFEST} with key {key!r}: "
            + result.stderr.strip()[-500:],
            "give --sign-key the id of a secret key of your keyring (gpg -K; GNUPGHOME "
            "chooses the keyring); the reports and the unsigned manifest are written",
        )
    return signature


def _need_gpg() -> None:
    from .. import system

    system.ensure(["gnupg"], "signing and verifying the audit's evidence")


# ------------------------------------------------------------------------------ verify


def _listed(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(header fields, {file: sha256}) of a manifest."""
    head, _, body = text.partition("\n\n")
    about = dict(
        line.split(": ", 1) for line in head.splitlines() if ": " in line and line[0] != "#"
    )
    sums = {}
    for line in body.splitlines():
        digest, _, name = line.partition("  ")
        if name:
            sums[name] = digest
    return about, sums


def check_sums(directory: Path) -> list[str]:
    """Each file changed, added or missing since the manifest was written."""
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return [f"{MANIFEST} missing: nothing to check"]
    _, sums = _listed(manifest.read_text())
    present = set(_files(directory))
    problems = [f"{name}: missing (listed in the manifest)" for name in sorted(set(sums) - present)]
    problems += [f"{name}: added (not in the manifest)" for name in sorted(present - set(sums))]
    problems += [
        f"{name}: changed (its SHA-256 differs from the manifest's)"
        for name in sorted(present & set(sums))
        if _sha256(directory / name) != sums[name]
    ]
    return problems


def check_signature(directory: Path, public_key: Path) -> list[str]:
    """The signature against PUBLIC_KEY alone (imported into a throwaway keyring)."""
    if not (directory / SIGNATURE).is_file():
        return [f"unsigned: no {SIGNATURE}"]
    if not public_key.is_file():
        raise OpsError(f"public key {public_key} not found", "give the auditor's key: --key FILE")
    _need_gpg()
    with _keyring() as home:
        imported = _gpg(home, "--import", str(public_key))
        if imported.returncode != 0:
            raise OpsError(
                f"gpg could not import {public_key}: {imported.stderr.strip()[-300:]}",
                "give the auditor's public key, armoured (gpg --armor --export KEYID)",
            )
        checked = _gpg(home, "--status-fd", "1", "--verify", SIGNATURE, MANIFEST, cwd=directory)
    status = checked.stdout
    if checked.returncode == 0 and "[GNUPG:] GOODSIG" in status and "VALIDSIG" in status:
        return []
    if "NO_PUBKEY" in status:
        return [f"bad signature: {SIGNATURE} was not made by the key in {public_key}"]
    return [f"bad signature: {SIGNATURE} does not match {MANIFEST} (it was changed after signing)"]


@contextlib.contextmanager
def _keyring() -> Iterator[str]:
    """A temporary GnuPG home (short path: gpg-agent's socket lives in it), not the user's."""
    with tempfile.TemporaryDirectory(prefix="preau-gpg-") as home:
        os.chmod(home, 0o700)
        try:
            yield home
        finally:
            subprocess.run(
                ["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False
            )


def _gpg(home: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["gpg", "--batch", "--no-tty", "--homedir", home, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def verify(directory: Path, public_key: Path | None) -> tuple[dict[str, str], list[str]]:
    """(the manifest's header, every problem); the signature is checked when a key is given."""
    manifest = directory / MANIFEST
    about = _listed(manifest.read_text())[0] if manifest.is_file() else {}
    problems = check_sums(directory)
    if public_key is not None and manifest.is_file():
        problems += check_signature(directory, public_key)
    return about, problems
