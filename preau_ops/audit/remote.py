"""The audit's view of a host: a testinfra connection as the admin or as the read-only
auditor account, and the few read-only ways controls may look (`run`, `root`, `read`)."""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .. import runner
from ..inventory import Host, Inventory
from ..paths import STATE_DIR
from .catalogue import Evidence


class CommandResult(Protocol):
    """What testinfra answers for a command (its CommandResult)."""

    @property
    def rc(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


def testinfra_host(host: Host, sudo: bool = False, inv: Inventory | None = None) -> Any:
    """A testinfra Host over OpenSSH with the runner's options (user, key, known hosts; the
    bastion of `inv` when given, else the host is reached directly)."""
    return runner.testinfra_host(host, inv or _alone(host), sudo=sudo)


def _alone(host: Host) -> Inventory:
    """An inventory of the host alone: no bastion, reached directly."""
    return Inventory(path=Path(host.name), hosts={host.name: host}, groups={})


def auditor_of(host: Host) -> Host:
    """The same host seen by the read-only auditor account (base_auditor_user).

    Key: PREAU_AUDITOR_SSH_KEY if set; in the lab the inventory's key (the lab declares it
    for the auditor too); elsewhere the auditor's own ssh-agent / default keys."""
    user = host.vars.get("base_auditor_user") or "auditor"
    key = os.environ.get("PREAU_AUDITOR_SSH_KEY")
    if (
        not key
        and host.key_file
        and Path(host.key_file).resolve().is_relative_to(STATE_DIR.resolve())
    ):
        key = host.key_file
    new_vars = {k: v for k, v in host.vars.items() if k != "ansible_ssh_private_key_file"}
    new_vars["ansible_user"] = user
    if key:
        new_vars["ansible_ssh_private_key_file"] = key
    return dataclasses.replace(host, vars=new_vars)


class Remote:
    """A host for the audit: commands as an unprivileged account; `root()` runs one of the
    exact command lines the auditor's sudoers rule allows (the admin account may run them
    too, so both modes take the same path)."""

    def __init__(
        self,
        host: Host,
        as_auditor: bool = False,
        control_dir: str | None = None,
        inv: Inventory | None = None,
    ):
        self.inventory_host = host
        self.as_auditor = as_auditor
        target = auditor_of(host) if as_auditor else host
        self.user = target.user
        self.host = runner.testinfra_host(target, inv or _alone(host), control_dir=control_dir)
        self._cache: dict[str, bool] = {}
        # where each command run goes as evidence: the control running now (controls/conftest)
        self.evidence: Evidence | None = None

    @property
    def name(self) -> str:
        return self.inventory_host.name

    def run(self, command: str) -> CommandResult:
        """testinfra CommandResult (rc, stdout, stderr) of an unprivileged command; the command
        and its trimmed output go to the running control's evidence (the one place they do)."""
        result: CommandResult = self.host.run(command)
        if self.evidence is not None:
            self.evidence.command(
                f"{self.name}$ {command}", result.rc, result.stdout + result.stderr
            )
        return result

    def out(self, command: str) -> str:
        result = self.run(command)
        if result.rc != 0:
            raise AssertionError(
                f"{self.name}: `{command}` failed ({result.rc}): "
                f"{(result.stderr or result.stdout).strip()[-300:]}"
            )
        return result.stdout

    def root(self, command: str) -> CommandResult:
        """One allowed read-only command as root (`sudo -n`: never waits for a password)."""
        return self.run(f"sudo -n {command}")

    def root_out(self, command: str) -> str | None:
        """Output of a root command, or None when sudo refuses it (not in the rule)."""
        result = self.root(command)
        if result.rc != 0:
            if "sudo" in result.stderr and (
                "not allowed" in result.stderr or "password is required" in result.stderr
            ):
                return None
            raise AssertionError(
                f"{self.name}: `sudo {command}` failed ({result.rc}): "
                f"{(result.stderr or result.stdout).strip()[-300:]}"
            )
        return result.stdout

    def read(self, path: str) -> str | None:
        """A file's text: directly when readable, else `sudo cat` (one rule per file);
        None when neither is allowed. Missing files raise FileNotFoundError."""
        quoted = shlex.quote(path)
        result = self.run(f"cat {quoted}")
        if result.rc == 0:
            return result.stdout
        if "No such file" in result.stderr:
            raise FileNotFoundError(path)
        result = self.root(f"/usr/bin/cat {quoted}")
        if result.rc == 0:
            return result.stdout
        if "No such file" in result.stderr:
            raise FileNotFoundError(path)
        return None

    def stat(self, path: str) -> str | None:
        """'MODE OWNER:GROUP' of a file: directly, else through the auditor's stat rule (one per
        file); None when neither may see it. FileNotFoundError (stat's message) when missing."""
        command = f"stat -c '%a %U:%G' {path}"
        result = self.run(command)
        if result.rc != 0 and "Permission denied" in result.stderr:
            result = self.root(f"/usr/bin/{command}")
            if result.rc != 0 and "No such file" not in result.stderr:
                return None
        if result.rc != 0:
            raise FileNotFoundError(result.stderr.strip()[-200:])
        return result.stdout.strip()

    def in_container(self) -> bool:
        if "container" not in self._cache:
            self._cache["container"] = self.run("systemd-detect-virt --container").rc == 0
        return self._cache["container"]


RemoteOf = Callable[[Host], Remote]  # the controls' `remote_of` fixture: any host of the inventory
