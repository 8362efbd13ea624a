"""Bare hosts to try bootstrap on, apart from the lab (the bench's `bootstrap` row): containers
of the lab's bare image (root's SSH key only, as a provider hands servers over) on Docker's
default network, and the inventory an operator would write for them (a copy of the production
example: one host in every group, the lab key as the operators', a vault of random values).
The containers carry no lab label and no lab host's name: `lab up`/`down` never see them.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from .. import platform
from ..errors import OpsError
from ..paths import INVENTORIES, STATE_DIR

PREFIX = "bootstrap-trial-"


def _docker(*args: str) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise OpsError(f"docker {args[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def _start(name: str) -> str:
    from ..lab import image

    _docker(
        "run", "-d", "--name", name, "--hostname", name, "--cap-add", "SYS_ADMIN",
        "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run",
        "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3", "--dns", "127.0.0.1",
        f"{image.REPOSITORY}:bare",
    )  # fmt: skip
    return _docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)


def _wait_for_sshd(address: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    scan = ["ssh-keyscan", "-T", "2", address]
    while subprocess.run(scan, capture_output=True, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise OpsError(f"sshd of the trial host {address} did not answer in {timeout:g} s")
        time.sleep(0.5)


@contextlib.contextmanager
def hosts(count: int, prefix: str = PREFIX) -> Iterator[dict[str, str]]:
    """`count` bare hosts, up with sshd answering: {name: address}; removed on exit."""
    names = [f"{prefix}{n}" for n in range(1, count + 1)]
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    try:
        addresses = {name: _start(name) for name in names}
        for address in addresses.values():
            _wait_for_sshd(address)
        yield addresses
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


def _vault(target: Path, password: str) -> None:
    from ansible.parsing.vault import VaultLib, VaultSecret

    example = target / "group_vars/all/vault.yml.example"
    names = yaml.safe_load(example.read_text()) or {}
    values = yaml.safe_dump({name: secrets.token_urlsafe(24) for name in names})
    vault = VaultLib([("default", VaultSecret(password.encode()))])
    (target / "group_vars/all/vault.yml").write_bytes(vault.encrypt(values.encode()))


def operator_inventory(
    target: Path, addresses: dict[str, str], bastion: str | None = None
) -> tuple[Path, Path]:
    """An operator's inventory of these hosts in `target`; (its directory, the vault password
    file). The operators' key is the lab key, copied beside it (root's in the bare image).
    With `bastion`, that host is the bastion alone and the others are reached through it."""
    shutil.copytree(INVENTORIES / "production", target)
    key = target.parent / "id_ed25519"
    shutil.copy(STATE_DIR / "id_ed25519", key)
    key.chmod(0o600)
    public = (STATE_DIR / "id_ed25519.pub").read_text().strip()
    base = target / "group_vars/all/base.yml"
    settings = yaml.safe_load(base.read_text())
    settings["base_admin_users"] = [{"name": "deploy", "ssh_keys": [public]}]
    settings["base_auditor_ssh_keys"] = [public]
    base.write_text(yaml.safe_dump(settings))
    password = target.parent / "vault-password"
    password.write_text(secrets.token_urlsafe(24) + "\n")
    _vault(target, password.read_text().strip())
    members = dict.fromkeys(name for name in addresses if name != bastion)
    children = {group: {"hosts": members} for group in platform.required_groups()}
    if bastion is not None:
        children["bastion"] = {"hosts": {bastion: None}}
    inventory = {
        "all": {
            "hosts": {name: {"ansible_host": address} for name, address in addresses.items()},
            "vars": {
                "ansible_user": "deploy",
                "ansible_ssh_private_key_file": str(key),
                "preau_ssh_known_hosts_file": "{{ inventory_dir }}/known_hosts",
            },
            "children": children,
        }
    }
    (target / "hosts.yml").write_text(yaml.safe_dump(inventory))
    return target, password
