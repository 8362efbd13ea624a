"""Host keys pinned at bootstrap: collected once (trust on first use, shown with their
fingerprints so the operator can compare them with the provider's console), written into the
inventory's known_hosts file (`preau_ssh_known_hosts_file`), which every tool then reads with
strict checking (runner.py). A key that differs from the pinned one is refused.

A key is collected by OpenSSH itself, through the bastion when there is one (ssh-keyscan
cannot hop): a connection with StrictHostKeyChecking=accept-new into an empty file records
the host's ed25519 key during the key exchange, whether or not the login then succeeds.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import runner
from ..errors import OpsError
from ..inventory import Host, Inventory

KEY_TYPE = "ssh-ed25519"  # every Debian 12 sshd has one; the base role keeps it offered


@dataclass(frozen=True)
class HostKey:
    host: str
    entry: str  # the known_hosts name: address, or [address]:port
    key_type: str
    blob: str  # base64, as in known_hosts

    @property
    def line(self) -> str:
        return f"{self.entry} {self.key_type} {self.blob}"

    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint as `ssh-keygen -l` and the provider's console show it."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def entry_name(host: Host) -> str:
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"


def known_hosts_file(inv: Inventory, hosts: list[Host]) -> Path:
    """The one known_hosts file of these hosts (the inventory's preau_ssh_known_hosts_file)."""
    files = {h.known_hosts_file for h in hosts}
    if None in files or len(files) != 1:
        unset = [h.name for h in hosts if not h.known_hosts_file]
        raise OpsError(
            f"inventory {inv.name}: preau_ssh_known_hosts_file is "
            + (f"not set for {', '.join(unset)}" if unset else "not the same on every host"),
            'set it once in hosts.yml (all: vars:), e.g. "{{ inventory_dir }}/known_hosts": '
            "bootstrap pins the host keys there and every tool reads them",
        )
    return Path(str(files.pop()))


def read_pinned(path: Path) -> dict[tuple[str, str], str]:
    """{(entry, key type): base64 key} of a known_hosts file (plain entries, one name each)."""
    pinned: dict[tuple[str, str], str] = {}
    if not path.exists():
        return pinned
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and not line.startswith("#"):
            for name in fields[0].split(","):
                pinned[(name, fields[1])] = fields[2]
    return pinned


def collect(host: Host, inv: Inventory) -> HostKey:
    """The host's ed25519 key as OpenSSH receives it (through the bastion when there is one)."""
    with tempfile.TemporaryDirectory(prefix="preau-hostkey-") as tmp:
        seen = Path(tmp) / "known_hosts"
        first = [
            "-o",
            f"UserKnownHostsFile={seen}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "HashKnownHosts=no",
            "-o",
            f"HostKeyAlgorithms={KEY_TYPE}",
            "-o",
            "ControlPath=none",
            "-o",
            "PreferredAuthentications=publickey",
        ]
        probe = as_user(host, user="nobody", key=None)
        argv = ["ssh", *first, *runner.ssh_options(probe, inv), "-p", str(host.port)]
        done = subprocess.run(
            [*argv, f"nobody@{host.address}", "true"],
            capture_output=True,
            text=True,
            timeout=runner.CONNECT_TIMEOUT * 3,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        lines = seen.read_text().split() if seen.exists() else []
    if len(lines) < 3:
        raise OpsError(
            f"{host.name} ({host.address}): no SSH host key received: "
            + (done.stderr.strip()[-300:] or f"ssh exited {done.returncode}"),
            runner.UNREACHABLE_HINT,
        )
    return HostKey(host.name, entry_name(host), lines[1], lines[2])


def as_user(host: Host, user: str, key: str | None) -> Host:
    """The same host reached as another user with another key (None: ssh's defaults)."""
    values = {**host.vars, "ansible_user": user}
    values.pop("ansible_ssh_private_key_file", None)
    if key:
        values["ansible_ssh_private_key_file"] = key
    return Host(host.name, host.groups, values)


def changed_key_error(key: HostKey, pinned: str, path: Path) -> OpsError:
    old = HostKey(key.host, key.entry, key.key_type, pinned)
    return OpsError(
        f"{key.host} ({key.entry}): its SSH host key changed: pinned {old.fingerprint} in "
        f"{path}, the host now shows {key.fingerprint}; nothing was changed",
        "if the host was reinstalled, compare the new fingerprint with the provider's console, "
        f"then remove the old key (ssh-keygen -R {key.entry} -f {path}) and run bootstrap "
        "again; otherwise treat it as an interception attempt",
    )


def pin(keys: list[HostKey], path: Path) -> list[HostKey]:
    """Check the collected keys against the file and add the new ones; return those added.

    A key differing from the pinned one is an OpsError naming both fingerprints (the file is
    left as it was)."""
    pinned = read_pinned(path)
    added = []
    for key in keys:
        known = pinned.get((key.entry, key.key_type))
        if known is None:
            added.append(key)
        elif known != key.blob:
            raise changed_key_error(key, known, path)
    if added:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text() if path.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(text + "".join(f"{k.line}\n" for k in added))
        partial.replace(path)
    return added
