"""The lab suite: real containers running systemd, reached over real SSH.

The lab is brought up once per session through the real CLI (`deploy.py lab up`); the last
test module takes it down and checks nothing is left behind.
"""
import os
import subprocess
import sys
import time

import pytest

from preau_ops import inventory
from preau_ops.paths import ROOT

# CI runs the acceptance topology of issue #8 (lb, app1, app2, db, ops); PREAU_LAB_TOPOLOGY
# picks another one (standard, single) for a quicker local run.
TOPOLOGY = os.environ.get("PREAU_LAB_TOPOLOGY", "scaled")


def deploy(*args, check=True, timeout=1800):
    """Run ./deploy.py as an operator would; return the CompletedProcess."""
    result = subprocess.run([sys.executable, str(ROOT / "deploy.py"), *args],
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and result.returncode != 0:
        pytest.fail(f"deploy.py {' '.join(args)} failed ({result.returncode}):\n"
                    f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="session")
def lab():
    """The lab, up in TOPOLOGY; yields the loaded lab inventory."""
    deploy("lab", "up", "--topology", TOPOLOGY)
    return inventory.load(None)


def wait_until(check, timeout: float, message, interval: float = 1.0) -> None:
    """Poll CHECK until it returns true; fail with MESSAGE (a string or a callable giving one)
    after TIMEOUT seconds. A check that raises OSError counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout:.0f} s: {message() if callable(message) else message}")
        time.sleep(interval)
