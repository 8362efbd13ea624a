"""A Docker engine for the lab: use the one that answers, or start one and remember it.

On a machine without systemd (CI, these workstations) nothing starts dockerd for us: as root
on Debian we install docker.io if needed and run dockerd in the background, keeping its PID in
the lab's state dir so that `lab down` stops exactly the daemon it started, and nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import system
from ..console import Progress
from ..errors import OpsError
from ..paths import STATE_DIR

if TYPE_CHECKING:
    from docker import DockerClient

PID_FILE = STATE_DIR / "dockerd.pid"
LOG_FILE = STATE_DIR / "dockerd.log"
# Held shared by whoever uses the engine beside the lab (molecule's containers): stopping the
# daemon the lab started waits for them (`deploy.py test` runs the roles beside the lab suite,
# whose last test takes the lab down).
USERS_LOCK = STATE_DIR / "dockerd.users"
# Held by whoever starts the engine or builds the host images (`deploy.py test` prepares them
# for the lab while the suites beside it already run, and the roles suite among them needs
# them too): one daemon started, each image built once.
PREPARE_LOCK = STATE_DIR / "dockerd.prepare"


def _client() -> DockerClient:
    import docker

    return docker.from_env(timeout=120)


def answers() -> bool:
    try:
        _client().ping()
        return True
    except Exception:
        return False


def ensure(progress: Progress | None = None) -> DockerClient:
    """Return a Docker client, starting a daemon if none answers and we are allowed to."""
    if answers():
        return _client()
    if os.geteuid() != 0 or not os.path.exists("/etc/debian_version"):
        raise OpsError(
            "no Docker engine answers on /var/run/docker.sock",
            "start Docker (or run deploy.py as root on Debian so it can start one)",
        )
    system.ensure(system.LAB, "the lab", progress)
    if progress:
        progress.update("starting dockerd")
    STATE_DIR.mkdir(exist_ok=True)
    with open(LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            ["dockerd", "--host=unix:///var/run/docker.sock"],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    PID_FILE.write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            PID_FILE.unlink(missing_ok=True)
            raise OpsError(f"dockerd exited at start (code {proc.returncode})", f"see {LOG_FILE}")
        if answers():
            return _client()
        time.sleep(0.5)
    raise OpsError("dockerd did not answer within 60 s", f"see {LOG_FILE}")


def started_by_us() -> int | None:
    """PID of the dockerd this lab started, if it still runs."""
    try:
        pid = int(PID_FILE.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def in_use() -> Iterator[None]:
    """While inside, `stop_if_ours` waits before stopping the daemon."""
    STATE_DIR.mkdir(exist_ok=True)
    with open(USERS_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield  # the lock goes with the file's closing


@contextlib.contextmanager
def preparing() -> Iterator[None]:
    """While inside, no other process starts the engine or builds an image (`in_use`'s
    exclusive sibling): the second one waits, then finds them ready."""
    STATE_DIR.mkdir(exist_ok=True)
    with open(PREPARE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def stop_if_ours(progress: Progress | None = None) -> bool:
    """Stop the daemon this lab started, once nothing uses it (`in_use`); False if none."""
    pid = started_by_us()
    if pid is None:
        PID_FILE.unlink(missing_ok=True)
        return False
    STATE_DIR.mkdir(exist_ok=True)
    with open(USERS_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress.update("waiting for the tests still using it (molecule)")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _stop(pid)


def _stop(pid: int) -> bool:
    PID_FILE.unlink(missing_ok=True)
    os.kill(pid, 15)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.1)
    os.kill(pid, 9)
    return True
