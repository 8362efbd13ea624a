"""The controller's own Debian packages: installed on first need, so that the README's two
commands work on a fresh Debian 12 machine (as root); elsewhere, say what to install."""

from __future__ import annotations

import os
import subprocess

from .console import Progress
from .errors import OpsError

# What each part of the bundle needs on the controller.
LAB = [
    "docker.io", "mmdebstrap", "openssh-client",
    "xmlsec1",  # the lab's IdPs' metadata, written here by pysaml2 (preau_ops/lab/partners.py)
]  # fmt: skip
TESTS = [
    "postgresql", "chromium-headless-shell", "fonts-dejavu-core", "prometheus", "wrk",
    "clamav-daemon",
    "gnupg",  # the audit's sealed evidence (preau_ops/audit/seal.py and its tests)
    "xmlsec1",  # pysaml2 signs and checks SAML messages with it (app preau.federation)
    "openssh-server",  # a real SFTP server on loopback for the GAR transfer's tests (app)
]  # fmt: skip

_POLICY = "/usr/sbin/policy-rc.d"
# Services some packages enable that the controller never wants running: the app tests start
# their own clamd with a local signature file, and freshclam must not reach the network; their
# own sshd too (an SSH server of the machine's is not theirs to open).
KEPT_STOPPED = {
    "clamav-daemon": ["clamav-freshclam.service", "clamav-daemon.service", "clamav-daemon.socket"],
    # the GAR transfer's tests start their own sshd on a loopback port, for themselves only
    "openssh-server": ["ssh.service", "ssh.socket"],
}


def missing(packages: list[str]) -> list[str]:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")
    }
    return [p for p in packages if p not in installed]


def ensure(packages: list[str], why: str, progress: Progress | None = None) -> list[str]:
    """Install what is missing; return what was installed."""
    todo = missing(packages)
    if not todo:
        return []
    if os.geteuid() != 0 or not os.path.exists("/etc/debian_version"):
        raise OpsError(
            f"{why} needs these packages: {' '.join(todo)}",
            f"install them: apt-get install --no-install-recommends {' '.join(todo)}",
        )
    if progress:
        progress.update(f"installing {' '.join(todo)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # No service starts during the install: the bundle starts exactly what it needs itself.
    blocked = not os.path.exists(_POLICY)
    if blocked:
        with open(_POLICY, "w") as policy:
            policy.write("#!/bin/sh\nexit 101\n")
        os.chmod(_POLICY, 0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
        result = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *todo],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    finally:
        if blocked:
            os.unlink(_POLICY)
    if result.returncode != 0:
        raise OpsError(f"installing {' '.join(todo)} failed:\n{result.stderr[-1500:]}")
    _keep_stopped(todo)
    return todo


def _keep_stopped(installed: list[str]) -> None:
    """Disable (not started at boot either) the services KEPT_STOPPED lists for these packages."""
    units = [unit for package in installed for unit in KEPT_STOPPED.get(package, [])]
    if units and os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "disable", "--now", *units], capture_output=True, check=False)
