"""The inventory's vault: its files, the secrets it holds, and a new password for all of it.

`rekey` is all or none: every file is rekeyed by `ansible-vault rekey` on a copy beside it,
each copy is checked (it opens with the new password and holds the same text), and only then
are the copies renamed over the originals; a failure at any point leaves every original as it
was (a rename that fails half-way puts the ones already swapped back). Passwords go to
`ansible-vault rekey` in files of a private temporary directory, never on a command line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from .console import Progress
from .errors import OpsError
from .inventory import Host, Inventory

MIN_PASSWORD = 16
SUFFIX_NEW = ".rekey-new"
SUFFIX_OLD = ".rekey-old"


@dataclass
class Swap:
    """One file to replace: `target` gets the content of `staged` (written beside it)."""

    target: Path
    staged: Path


def ansible_vault(*args: str) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "ansible-vault"
    return subprocess.run(
        [str(tool), *args], capture_output=True, text=True, check=False, timeout=120
    )


@contextlib.contextmanager
def password_files(*passwords: bytes) -> Iterator[list[Path]]:
    """Each password in a 0600 file of a private directory, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="preau-vault-") as private:
        paths = []
        for index, password in enumerate(passwords):
            path = Path(private) / f"password-{index}"
            path.touch(mode=0o600)
            path.write_bytes(password + b"\n")
            paths.append(path)
        yield paths


def decrypt(file: Path, password_file: Path) -> str:
    """The plain text of a vault file (Ansible's own VaultLib, in this process)."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(password_file.read_bytes().strip())
    try:
        return bytes(VaultLib([("default", secret)]).decrypt(file.read_bytes())).decode()
    except Exception as exc:  # AnsibleVaultError and the like
        raise OpsError(
            f"{file} does not open with this vault password: {exc}",
            "check --vault-password-file (or the password typed)",
        ) from exc


def secret_names(files: list[Path], password_file: Path) -> list[str]:
    """Every variable the vault files define (what someone who held the password knew)."""
    names: list[str] = []
    for file in files:
        data = yaml.safe_load(decrypt(file, password_file)) or {}
        names += [str(key) for key in data if str(key) not in names]
    return names


def rekey(
    files: list[Path],
    old: Path,
    new: Path,
    extra: list[Swap] | None = None,
    progress: Progress | None = None,
) -> None:
    """Every file to the new password, or none (see the module's docstring). `extra` files
    (the lab's password file) are swapped in the same all-or-none step."""
    staged: list[Swap] = []
    try:
        for file in files:
            if progress is not None:
                progress.update(file.name)
            staged.append(_rekeyed_copy(file, old, new))
        _swap([*staged, *(extra or [])])
    finally:
        for swap in [*staged, *(extra or [])]:
            swap.staged.unlink(missing_ok=True)


def _rekeyed_copy(file: Path, old: Path, new: Path) -> Swap:
    before = decrypt(file, old)
    copy = file.with_name(f".{file.name}{SUFFIX_NEW}")
    copy.write_bytes(file.read_bytes())
    os.chmod(copy, file.stat().st_mode & 0o777)
    done = ansible_vault(
        "rekey",
        "--vault-password-file",
        str(old),
        "--new-vault-password-file",
        str(new),
        str(copy),
    )
    if done.returncode != 0:
        copy.unlink(missing_ok=True)
        raise OpsError(
            f"ansible-vault rekey failed on {file}: {_last_line(done.stderr)}",
            "nothing was changed: every vault file still opens with the old password",
        )
    if decrypt(copy, new) != before:
        copy.unlink(missing_ok=True)
        raise OpsError(
            f"the rekeyed copy of {file} does not hold the same secrets", "nothing changed"
        )
    return Swap(file, copy)


def _swap(swaps: list[Swap]) -> None:
    """Rename every staged file over its target; on a failure, put the targets back."""
    kept: list[Swap] = []  # the targets as they were, to restore
    done: list[Swap] = []
    try:
        for swap in swaps:
            kept.append(_kept(swap.target))
        for swap in swaps:
            os.replace(swap.staged, swap.target)
            done.append(swap)
    except OSError as exc:
        for back in (k for k in kept if any(d.target == k.target for d in done)):
            os.replace(back.staged, back.target)
        raise OpsError(
            f"could not put the rekeyed files in place ({exc})",
            "nothing was changed: every vault file still opens with the old password",
        ) from exc
    finally:
        for back in kept:
            back.staged.unlink(missing_ok=True)


def _kept(target: Path) -> Swap:
    """A second name for the target as it is now (a hard link, or a copy)."""
    backup = target.with_name(f".{target.name}{SUFFIX_OLD}")
    backup.unlink(missing_ok=True)  # a leftover of an interrupted run
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)
    return Swap(target, backup)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


# --------------------------------------------------------------------------- operators


def operator_state(inv: Inventory, name: str) -> dict[str, str]:
    """{host: 'absent' | 'present' | 'unknown'}: what the inventory says of this account."""
    return {host.name: _declared(host, name) for host in inv.hosts.values()}


def _declared(host: Host, name: str) -> str:
    for admin in host.vars.get("base_admin_users") or []:
        if isinstance(admin, dict) and admin.get("name") == name:
            return str(admin.get("state", "present"))
    return "unknown"


def check_leaver(inv: Inventory, name: str) -> None:
    """Refuse unless the inventory marks the account `state: absent` on every host, and it is
    not the account the tools connect with."""
    users = {host.user for host in inv.hosts.values()}
    if name in users:
        raise OpsError(
            f"{name!r} is the account deploy.py connects with (ansible_user)",
            "give the hosts another connection account first, converge, then remove this one",
        )
    states = operator_state(inv, name)
    not_absent = sorted(host for host, state in states.items() if state != "absent")
    if not_absent:
        example = f"  - name: {name}\n    state: absent"
        raise OpsError(
            f"the inventory does not mark {name!r} absent (on {', '.join(not_absent)}): "
            f"it says {', '.join(sorted({states[h] for h in not_absent}))}",
            "in base_admin_users (group_vars/all/base.yml), replace the operator's entry with\n"
            f"{example}\nand run this command again (keep the entry until every host "
            "converged without the account)",
        )


def accounts_left(inv: Inventory, name: str) -> dict[str, bool]:
    """{host: whether the account still exists there} (getent on every host)."""
    from . import runner

    command = f"getent passwd {name} >/dev/null && echo present || echo absent"
    return {host: out == "present" for host, out in runner.run_everywhere(inv, command).items()}
