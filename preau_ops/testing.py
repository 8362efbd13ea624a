"""`deploy.py test`: the project's test suites, in order, with one summary at the end.

unit   tests/unit: the CLI and inventory, no host needed (seconds)
app    app/tests: the ENT against a real PostgreSQL and a real browser
roles  molecule test of every role (systemd containers), promtool tests of the alert rules
lab    tests/lab: the whole bundle against the lab (real SSH, real converge)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import console as ui
from . import system
from .errors import OpsError
from .paths import ARTIFACTS, ROOT

SUITES = ("unit", "app", "roles", "lab")
MOLECULE_PARALLEL = int(os.environ.get("PREAU_MOLECULE_PARALLEL", "2"))


def _pytest(args: list[str], cwd: Path, name: str, k: str | None) -> tuple[int, int, int]:
    """Run pytest; return (passed, failed, skipped) read from its JUnit report."""
    report = ARTIFACTS / "junit" / f"{name}.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", *args, f"--junitxml={report}", "-p", "no:cacheprovider"]
    if k:
        command += ["-k", k]
    ui.console.rule(f"[bold]{name}[/]")
    code = subprocess.run(command, cwd=cwd).returncode
    if not report.exists():
        return 0, 1, 0
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total, failures, errors, skipped = (int(suite.get(a, 0)) for a in
                                        ("tests", "failures", "errors", "skipped"))
    failed = failures + errors
    if code not in (0, 5) and failed == 0:
        failed = 1  # pytest itself failed (collection, usage): count it
    return total - failed - skipped, failed, skipped


def _mirror_ip() -> str:
    from .lab.image import resolve_mirrors
    return resolve_mirrors()["deb.debian.org"]


def _roles(k: str | None) -> tuple[int, int, int]:
    """molecule test per role scenario, then promtool rule tests; (passed, failed, skipped)."""
    from .lab import engine, image

    client = engine.ensure()
    image.build_bare(client)
    image.build_baked(client)
    env = dict(os.environ, PREAU_DEBIAN_MIRROR_IP=_mirror_ip(),
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    passed = failed = skipped = 0
    ui.console.rule("[bold]roles[/]")
    scenarios = []
    for scenario in sorted(ROOT.glob("roles/*/molecule/*/molecule.yml")):
        role, name = scenario.parts[-4], scenario.parts[-2]
        if k and k not in f"{role}/{name}":
            skipped += 1
        else:
            scenarios.append((role, name, scenario.parents[2]))

    def molecule(role: str, name: str, role_dir: Path) -> tuple[str, bool, float]:
        started = time.monotonic()
        log = ARTIFACTS / "molecule" / f"{role}-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            code = subprocess.run(["molecule", "test", "-s", name], cwd=role_dir, env=env,
                                  stdout=out, stderr=subprocess.STDOUT).returncode
        return f"{role}/{name}", code == 0, time.monotonic() - started

    # Two scenarios at a time: each is mostly waiting on dpkg/systemd in its containers.
    with ThreadPoolExecutor(max_workers=MOLECULE_PARALLEL) as pool:
        futures = [pool.submit(molecule, *item) for item in scenarios]
        for future in as_completed(futures):
            name, ok, duration = future.result()
            log = ARTIFACTS / "molecule" / f"{name.replace('/', '-')}.log"
            if ok:
                passed += 1
                ui.console.print(f"[green]✓[/] molecule test {name} [dim]({duration:.0f} s)[/]")
            else:
                failed += 1
                ui.console.print(f"[red]✗ molecule test {name}[/] ({duration:.0f} s), "
                                 f"log {log.relative_to(ROOT)}; last lines:")
                ui.console.print("\n".join(log.read_text().splitlines()[-30:]), markup=False)
    rule_tests = sorted(ROOT.glob("monitoring/tests/*.yml"))
    if rule_tests and (not k or k in "promtool"):
        promtool = shutil.which("promtool")
        if promtool is None:
            raise OpsError("promtool is needed for the alert rule tests",
                           "apt-get install --no-install-recommends prometheus")
        code = subprocess.run([promtool, "test", "rules", *map(str, rule_tests)],
                              cwd=ROOT / "monitoring").returncode
        passed, failed = (passed + 1, failed) if code == 0 else (passed, failed + 1)
    if not k or k in "ansible-lint":
        with ui.step("ansible-lint (production profile)") as progress:
            lint = subprocess.run(["ansible-lint", "-q", "--nocolor"], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            if lint.returncode != 0:
                progress.result = "failed"
                ui.console.print(lint.stdout[-3000:] + lint.stderr[-2000:], markup=False)
        passed, failed = (passed + 1, failed) if lint.returncode == 0 else (passed, failed + 1)
    return passed, failed, skipped


def run(suites: list[str], k: str | None = None) -> int:
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise OpsError(f"unknown test suite(s): {', '.join(unknown)}",
                       f"suites: {', '.join(SUITES)}")
    chosen = [s for s in SUITES if s in suites] or list(SUITES)
    # PostgreSQL + Chromium for the app, promtool for the rules, wrk for the bench's pacing test
    if {"unit", "app", "roles"} & set(chosen):
        with ui.step("System packages for the tests") as progress:
            installed = system.ensure(system.TESTS, "the tests", progress)
            progress.detail = ("installed " + " ".join(installed)) if installed else "present"
    summary = ui.Summary("deploy.py test")
    totals = [0, 0, 0]
    for suite in chosen:
        started = time.monotonic()
        if suite == "unit":
            counts = _pytest(["tests/unit", "-q"], ROOT, suite, k)
        elif suite == "app":
            counts = _pytest(["-q"], ROOT / "app", suite, k)
        elif suite == "roles":
            counts = _roles(k)
        else:
            counts = _pytest(["tests/lab", "-q", "-x"], ROOT, suite, k)
        totals = [a + b for a, b in zip(totals, counts)]
        passed, failed, skipped = counts
        summary.add(suite, "failed" if failed else "ok",
                    f"{passed} passed, {failed} failed, {skipped} skipped "
                    f"in {time.monotonic() - started:.0f} s")
    summary.show()
    passed, failed, skipped = totals
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 1 if failed or passed == 0 else 0
