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
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from preau_ops import inventory, procedures, runner, testing
from preau_ops.logins import source_address
from preau_ops.paths import ARTIFACTS, ROOT

# CI runs the production-like topology (issue #21: bastion, lb, app1, app2, db, ops on a
# management and a private network); PREAU_LAB_TOPOLOGY picks another one (scaled, standard,
# single: no bastion, one network) for a quicker local run.
TOPOLOGY = testing.lab_topology()


HERE = Path(__file__).parent


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items):
    """The lab's tests in file order, whatever pytest-randomly did (other tests stay shuffled);
    only those the other hooks kept (-k, -m deselect)."""
    collected = list(items)
    result = yield
    kept = {id(item) for item in items}
    lab = [item for item in collected if item.path.is_relative_to(HERE) and id(item) in kept]
    if lab:
        items[:] = [item for item in items if not item.path.is_relative_to(HERE)] + lab
    return result


def deploy(*args, check=True, timeout=1800, env=None):
    """Run ./deploy.py as an operator would (ENV: its environment, default this one's); return
    the CompletedProcess. Each call's duration goes to artifacts/lab-deploy-times.tsv (the
    suite's budget: which commands cost what)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
        env=env,
    )
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "lab-deploy-times.tsv", "a") as times:
        times.write(
            f"{time.monotonic() - started:.1f}\t{result.returncode}\t{test}\t{shlex.join(args)}\n"
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


@pytest.fixture(scope="session", autouse=True)
def _hosts_reached_as_the_lab_reaches_them():
    """audit.testinfra_host(host) without an inventory reaches the host directly, which a
    lab with a bastion refuses (prodlike): a lab host is reached through the lab's bastion."""
    from preau_ops.audit import remote

    alone = remote._alone
    known: dict = {}

    def through_the_lab(host):
        if "lab" not in known:
            known["lab"] = inventory.load(None)
        lab = known["lab"]
        return lab if host.name in lab.hosts else alone(host)

    remote._alone = through_the_lab
    yield
    remote._alone = alone


# A file the base role writes on every host: present once the lab has been converged. Not the
# SSH drop-in or the sudo rule: bootstrap (lab up) writes those, long before any converge.
CONVERGED_MARK = "/etc/sysctl.d/90-preau.conf"


# The converge the platform fixture ran on a bare lab, this session (test_20 asserts on it
# instead of converging again: the suite's budget).
FIRST_CONVERGE: list[subprocess.CompletedProcess] = []


@pytest.fixture(scope="session")
def platform(lab):
    """The lab converged at least once: what the modules after test_20 stand on. A lab just
    brought up is bare, so it is converged here; a converged one is not converged again."""
    marks = runner.run_everywhere(lab, f"test -e {CONVERGED_MARK} && echo yes || echo no")
    if any(out.strip() != "yes" for out in marks.values()):
        FIRST_CONVERGE.append(deploy("converge", timeout=1800))
    return lab


# The backup host's WAL archive check (role backup): its oneshot unit (`systemctl start` waits
# for it) and the metrics file it writes.
WAL_CHECK = "systemctl start preau-wal-archive-check.service"
WAL_PROM = "/var/lib/prometheus/node-exporter/preau_wal_archive.prom"


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
    from preau_ops.bench import variants

    return variants.app_copy(tmp_path / name, name, broken)


def psql(lab, sql: str, database: str = "postgres") -> str:
    db = lab.hosts_in("db")[0]
    with runner.FabricSession(db, lab) as session:
        result = session.run(db, f'sudo -u postgres psql -d {database} -tAc "{sql}"')
    return result.stdout.strip()


def forgive_this_address(lab) -> str:
    """Forget the login failures counted against this machine's address (the login tests and
    the bench's spray leave it throttled); return the address."""
    here = source_address(lab.hosts_in("lb")[0].address)
    procedures.app_manage(lab, f"login_throttle {here} --forgive")
    return here


AUDIT_REPORTS = ARTIFACTS / "audit-tests"


def run_audit(name: str, *options: str, env=None):
    """deploy.py audit into artifacts/audit-tests/NAME; (exit code, audit.json data)."""
    report = AUDIT_REPORTS / name
    shutil.rmtree(report, ignore_errors=True)  # an earlier run's report proves nothing
    result = deploy("audit", "--report", str(report), *options, check=False, timeout=900, env=env)
    assert (report / "audit.json").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return result.returncode, json.loads((report / "audit.json").read_text())


def failures(data) -> dict[tuple[str, str], str]:
    """{(control, host): message} of the failed results of an audit."""
    return {
        (r["control"], r["host"]): r["message"] for r in data["results"] if r["status"] == "failed"
    }
