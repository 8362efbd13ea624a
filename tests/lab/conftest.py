"""The lab suite: real containers running systemd, reached over real SSH.

The lab is brought up once per session through the real CLI (`deploy.py lab up`); the last
test module takes it down and checks nothing is left behind.
"""
import os
import subprocess
import sys

import pytest

from preau_ops import inventory
from preau_ops.paths import ROOT

TOPOLOGY = os.environ.get("PREAU_LAB_TOPOLOGY", "standard")


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
    """The standard lab, up; yields the loaded lab inventory."""
    deploy("lab", "up", "--topology", TOPOLOGY)
    return inventory.load(None)
