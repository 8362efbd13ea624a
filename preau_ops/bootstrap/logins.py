"""Logins tried from the controller with OpenSSH, as the tools will connect: the runner's
options (key, pinned known hosts with strict checking, the bastion's ProxyCommand), never a
shared master connection (each try is a new login, so a refusal is really the server's).

Root is reached with a key (the inventory's, or --root-key) or with a password given once
on the terminal (sshpass reads it from its environment: never on a command line, never
logged). A refused login says which methods the server still offers, so one try as root also
tells whether password logins are off.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

from .. import runner
from ..inventory import Host, Inventory
from .hostkeys import as_user

PASSWORD_ENV = "SSHPASS"  # sshpass -e reads it
DENIED = re.compile(r"^(\S+): Permission denied \(([^)]*)\)", re.MULTILINE)


@dataclass(frozen=True)
class RootAccess:
    """How root logs in: a key file (None: the inventory's) or a password."""

    key_file: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Login:
    ok: bool
    methods: tuple[str, ...]  # what the server offered when it refused ((): not refused)
    error: str
    output: str = ""  # the command's standard output

    @property
    def password_offered(self) -> bool:
        return any(m in ("password", "keyboard-interactive") for m in self.methods)


def refused_methods(stderr: str, host: Host) -> tuple[str, ...]:
    """The methods sshd still offered when it refused this login: only the target's own
    refusal counts (through a bastion, a refused hop names the bastion's user and address)."""
    for target, methods in DENIED.findall(stderr):
        if target == f"{host.user}@{host.address}":
            return tuple(methods.split(","))
    return ()


def _argv(host: Host, inv: Inventory, password: bool) -> list[str]:
    first = ["-o", "ControlPath=none", "-o", "ControlMaster=no"]
    if password:
        first += [
            "-o",
            "BatchMode=no",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            "-o",
            "NumberOfPasswordPrompts=1",
        ]
    else:
        first += ["-o", "PreferredAuthentications=publickey"]
    ssh = ["ssh", *first, *runner.ssh_options(host, inv), "-p", str(host.port)]
    return [*(["sshpass", "-e"] if password else []), *ssh, f"{host.user}@{host.address}"]


def attempt(
    host: Host, inv: Inventory, command: str, password: str | None = None, timeout: float = 60
) -> Login:
    """Log in as host.user (with its key, or the password) and run a command."""
    env = dict(os.environ)
    if password is not None:
        env[PASSWORD_ENV] = password
    try:
        done = subprocess.run(
            [*_argv(host, inv, password is not None), command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return Login(False, (), f"no answer in {timeout:g} s")
    methods = refused_methods(done.stderr, host)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("Warning:")]
    error = "\n".join(lines).strip().rstrip(".")[-400:] or f"exit {done.returncode}"
    if done.returncode == 0:
        error = ""
    return Login(done.returncode == 0, methods, error, done.stdout)


def as_root(host: Host, inv: Inventory, access: RootAccess, command: str = "true") -> Login:
    root = as_user(host, "root", access.key_file or host.key_file)
    return attempt(root, inv, command, access.password)


def as_admin(host: Host, inv: Inventory, command: str = "sudo -n true") -> Login:
    """The new way in: the connection user with its key, and sudo without a password."""
    return attempt(host, inv, command)
