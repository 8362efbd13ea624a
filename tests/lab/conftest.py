"""The lab suite: real containers running systemd, reached over real SSH.

The lab is brought up once per session through the real CLI (`deploy.py lab up`); the last
test module takes it down and checks nothing is left behind.

Each module states and sets up what it needs (a release, a converge, a forgiven address, no
leftover of an earlier run) in its own fixtures, so that any file can run alone, twice in a
row, or after any other. The suite still runs in file order, and each file's tests in the
order they are written (pytest-randomly shuffles the unit and app tests, not these): the last
file takes the lab down, and a file reads as one scenario on a lab it shares with its operator.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from preau_ops import inventory, procedures
from preau_ops.logins import source_address
from preau_ops.paths import ARTIFACTS, ROOT

# CI runs the acceptance topology of issue #8 (lb, app1, app2, db, ops); PREAU_LAB_TOPOLOGY
# picks another one (standard, single) for a quicker local run.
TOPOLOGY = os.environ.get("PREAU_LAB_TOPOLOGY", "scaled")


HERE = Path(__file__).parent


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items):
    """The lab's tests in file order, whatever pytest-randomly did (other tests stay shuffled)."""
    collected = list(items)
    result = yield
    lab = [item for item in collected if item.path.is_relative_to(HERE)]
    if lab:
        items[:] = [item for item in items if not item.path.is_relative_to(HERE)] + lab
    return result


def deploy(*args, check=True, timeout=1800):
    """Run ./deploy.py as an operator would; return the CompletedProcess."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"deploy.py {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


@pytest.fixture(scope="session")
def lab():
    """The lab, up in TOPOLOGY; yields the loaded lab inventory."""
    deploy("lab", "up", "--topology", TOPOLOGY)
    return inventory.load(None)


# A file the base role writes on every host: present once the lab has been converged.
CONVERGED_MARK = "/etc/ssh/sshd_config.d/00-preau.conf"


@pytest.fixture(scope="session")
def platform(lab):
    """The lab converged at least once: what the modules after test_20 stand on. A lab just
    brought up is bare, so it is converged here; a converged one is not converged again."""
    from preau_ops import runner

    marks = runner.run_everywhere(lab, f"test -e {CONVERGED_MARK} && echo yes || echo no")
    if any(out.strip() != "yes" for out in marks.values()):
        deploy("converge", timeout=1800)
    return lab


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


def variant(tmp_path, name: str, broken: bool = False):
    """A copy of the app whose content (hence version) differs; optionally unable to start."""
    from preau_ops import release

    source = tmp_path / name
    shutil.copytree(
        release.APP_DIR,
        source,
        ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build"),
    )
    (source / "src/preau/release_note.py").write_text(f'NOTE = "{name}"\n')
    if broken:
        with open(source / "src/preau/wsgi.py", "a") as wsgi:
            wsgi.write('\nraise RuntimeError("deliberately broken release")\n')
    return source


def forgive_this_address(lab) -> str:
    """Forget the login failures counted against this machine's address (the login tests and
    the bench's spray leave it throttled); return the address."""
    here = source_address(lab.hosts_in("lb")[0].address)
    procedures.app_manage(lab, f"login_throttle {here} --forgive")
    return here


AUDIT_REPORTS = ARTIFACTS / "audit-tests"


def run_audit(name: str, *options: str):
    """deploy.py audit into artifacts/audit-tests/NAME; (exit code, audit.json data)."""
    report = AUDIT_REPORTS / name
    shutil.rmtree(report, ignore_errors=True)  # an earlier run's report proves nothing
    result = deploy("audit", "--report", str(report), *options, check=False, timeout=900)
    assert (report / "audit.json").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return result.returncode, json.loads((report / "audit.json").read_text())


def failures(data) -> dict[tuple[str, str], str]:
    """{(control, host): message} of the failed results of an audit."""
    return {
        (r["control"], r["host"]): r["message"] for r in data["results"] if r["status"] == "failed"
    }
