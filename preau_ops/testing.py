"""`deploy.py test`: the project's test suites, in order, with one summary at the end.

lint   ruff (lint, format), mypy (ops package strict, app with django-stubs), yamllint,
       ansible-lint (production profile): seconds; a failure stops the run here
       unless --keep-going
unit   tests/unit and preau_ops/audit/tests (pytest.ini testpaths): no host needed (seconds)
app    app/tests: the ENT against a real PostgreSQL and a real browser
roles  molecule test of every role (systemd containers), promtool tests of the alert rules
lab    tests/lab: the whole bundle against the lab (real SSH, real converge)
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import console as ui
from . import system
from .errors import OpsError
from .paths import ARTIFACTS, ROOT

SUITES = ("lint", "unit", "app", "roles", "lab")
# When the lab is chosen, these run beside it, one after the other, as one `deploy.py test`
# at the lowest priority (nice 19; the lab's containers also weigh more than molecule's:
# lab/hosts.py CPU_SHARES), their output in artifacts/beside.log, its summary shown when the
# lab ends: the lab suite leaves a core idle most of the time (it waits on SSH, systemd and
# converges in its hosts), and the lab is the longest suite, so it keeps the CPU first.
# Clean-clone CI on 2 cores, prodlike: one after the other, roles and app side by side 721 s
# then the lab 1,120 s (32 min 24 s in all); beside it at nice 10, the lab 1,646 s and
# app + roles done after ~1,200 s (29 min 5 s in all); at nice 19 with the lab's containers
# weighing more, the lab (7 more tests) 1,537 s, app + roles done after ~1,120 s (28 min 19 s).
# The unit suite (~35 s, no host) joined them after that run: the lab starts that much sooner.
# They start once the system packages are installed, while the lab's host images are built (the
# roles suite, last, takes them under engine.preparing): with the lab, they had waited ~90 s
# of images and lint, with a core idle, and the lab's last test (`down`) then waited for them.
BESIDE_LAB = ("unit", "app", "roles")
# With the lab, lint runs in the background while the lab's system packages and host images are
# prepared (on a fresh machine ~65 s of lint beside ~140 s of images, which the lab waited for
# one after the other); the lab starts only once lint has passed, as before.
# The lab's long fault drills (marker `drill`: minutes of waiting on an alert's `for:` or on a
# backup, for a mechanism the default run proves otherwise) run alone with `test lab --drills`,
# never in the default run that CI times (under 30 minutes on 2 cores).
LAB_MARKERS = {False: "not drill", True: "drill"}
STOP_WAIT = 10  # s a background run has to end on SIGTERM before SIGKILL
SHOWN_TAIL = 25  # last lines of the beside log shown when the lab ends: its summary
MOLECULE_PARALLEL = int(os.environ.get("PREAU_MOLECULE_PARALLEL", "2"))
FIRST_ERRORS = 20  # lines of a failing lint tool's output shown
NAMED_FAILURES = 3  # failing tests a suite's summary row names (the rest: its JUnit report)
# The failing tests of each pytest suite, read from its JUnit report: the summary names them,
# so a failure beside the lab (whose log only its last lines reach the terminal) is known.
FAILURES: dict[str, list[str]] = {}

Counts = tuple[int, int, int]  # passed, failed, skipped


@dataclass(frozen=True)
class Tool:
    """One lint tool: its name in the summary, its command (found on PATH), where it runs."""

    name: str
    command: tuple[str, ...]
    cwd: Path


LINT = (
    Tool("ruff check", ("ruff", "check", "."), ROOT),
    Tool("ruff format", ("ruff", "format", "--check", "."), ROOT),
    Tool("mypy preau_ops", ("mypy", "preau_ops", "deploy.py"), ROOT),
    Tool("mypy app", ("mypy", "src"), ROOT / "app"),
    Tool(
        "yamllint",
        (
            "yamllint",
            "--strict",
            "-f",
            "parsable",
            "roles",
            "playbooks",
            "inventories",
            "monitoring",
            ".config",
        ),
        ROOT,
    ),
    Tool("ansible-lint", ("ansible-lint", "-q", "--nocolor", "--offline"), ROOT),
)


@functools.cache
def _system_packages(lab: bool = False) -> None:
    """PostgreSQL + Chromium for the app, promtool for the rules, wrk for the bench's pacing
    test (and the lab's: Docker, mmdebstrap): installed once, in one apt run, before the first
    suite that needs them."""
    with ui.step("System packages for the tests") as progress:
        wanted = list(dict.fromkeys(system.TESTS + (system.LAB if lab else [])))
        installed = system.ensure(wanted, "the tests", progress)
        progress.detail = ("installed " + " ".join(installed)) if installed else "present"


# ------------------------------------------------------------------------------ lint


def _run_tool(tool: Tool) -> tuple[bool, float, str]:
    """(passed, seconds, output) of one lint tool."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    started = time.monotonic()
    try:
        done = subprocess.run(
            list(tool.command), cwd=tool.cwd, env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        hint = "run ./deploy.py (it installs the tools in .venv and puts them on PATH)"
        return False, time.monotonic() - started, f"{tool.command[0]}: not found on PATH; {hint}"
    return done.returncode == 0, time.monotonic() - started, done.stdout + done.stderr


def _lint(k: str | None, summary: ui.Summary) -> Counts:
    """Each tool in order, one summary line each with its time; a failing one shows its
    first errors. -k keeps the tools whose name contains it."""
    passed = failed = skipped = 0
    ui.console.rule("[bold]lint[/]")
    for tool in LINT:
        if k and k not in tool.name:
            skipped += 1
            continue
        ok, seconds, output = _run_tool(tool)
        summary.add(f"lint: {tool.name}", "ok" if ok else "failed", f"{seconds:.1f} s")
        if ok:
            passed += 1
            ui.console.print(f"[green]✓[/] {tool.name} [dim]({seconds:.1f} s)[/]")
            continue
        failed += 1
        ui.console.print(f"[red]✗ {tool.name}[/] ({seconds:.1f} s): {' '.join(tool.command)}")
        lines = output.strip().splitlines()
        shown = lines[:FIRST_ERRORS]
        if len(lines) > len(shown):
            shown.append(f"… {len(lines) - len(shown)} more line(s)")
        ui.console.print("\n".join(shown), markup=False, soft_wrap=True)
    return passed, failed, skipped


# ------------------------------------------------------------------------------ pytest


def _pytest(
    args: list[str], cwd: Path, name: str, k: str | None, log: Path | None = None
) -> Counts:
    """Run pytest, its output on the terminal or in `log`; return (passed, failed, skipped)
    read from its JUnit report."""
    report = ARTIFACTS / "junit" / f"{name}.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", *args, f"--junitxml={report}"]
    command += ["-p", "no:cacheprovider"]
    if k:
        command += ["-k", k]
    if log is None:
        ui.console.rule(f"[bold]{name}[/]")
        code = subprocess.run(command, cwd=cwd, check=False).returncode
    else:
        with open(log, "w") as out:
            code = subprocess.run(
                command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False
            ).returncode
    if not report.exists():
        return 0, 1, 0
    root = ET.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return 0, 1, 0
    total, failures, errors, skipped = (
        int(suite.get(a, 0)) for a in ("tests", "failures", "errors", "skipped")
    )
    failed = failures + errors
    FAILURES[name] = _failed_cases(suite)
    if code not in (0, 5) and failed == 0:
        failed = 1  # pytest itself failed (collection, usage): count it
    return total - failed - skipped, failed, skipped


def _failed_cases(suite: ET.Element) -> list[str]:
    """file::test of each failed or erroring test case of a JUnit test suite."""
    names = []
    for case in suite.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            path = case.get("classname", "").replace(".", "/")
            names.append(f"{path}.py::{case.get('name', '?')}")
    return names


def _unit(k: str | None, summary: ui.Summary) -> Counts:
    _system_packages()
    return _pytest(["-q"], ROOT, "unit", k)


def _app(k: str | None, summary: ui.Summary, log: Path | None = None) -> Counts:
    _system_packages()
    return _pytest(["-q"], ROOT / "app", "app", k, log)


def lab_topology() -> str:
    """The topology the lab tests run on (tests/lab/conftest.py's too): prodlike, as CI."""
    return os.environ.get("PREAU_LAB_TOPOLOGY", "prodlike")


def other_lab() -> str | None:
    """The topology of a lab that is up with another one than the tests' (`up` makes
    `standard`), None when there is none."""
    from .lab import engine, hosts

    if not engine.answers():
        return None
    state = hosts.read_state() or {}
    topology = state.get("topology")
    if not hosts.container_states() or topology in (None, lab_topology()):
        return None
    return str(topology)


def _other_lab_note(topology: str) -> str:
    return (
        f"the lab is up with topology {topology!r} (`up`'s); the lab tests run on "
        f"{lab_topology()!r}: the lab tier replaces it (its hosts and data go, as every lab "
        "run ends with `down`); `./deploy.py up` makes yours again afterwards"
    )


def _lab(k: str | None, summary: ui.Summary, drills: bool = False) -> Counts:
    other = other_lab()
    if other:  # told in the run's first seconds (run); its containers go only now
        from . import lab

        with ui.step(f"Lab of topology {other!r} replaced", summary) as progress:
            removed = lab.remove(progress)
            progress.detail = f"{len(removed)} removed; the tests make a {lab_topology()} lab"
    return _pytest(["tests/lab", "-q", "-x", "-m", LAB_MARKERS[drills]], ROOT, "lab", k)


# ------------------------------------------------------------------------------ roles


def _mirror_ip() -> str:
    from .lab.image import resolve_mirrors

    return resolve_mirrors()["deb.debian.org"]


def _molecule(role: str, name: str, role_dir: Path, env: dict[str, str]) -> tuple[str, bool, float]:
    """molecule test of one scenario, its log in artifacts/molecule/. Its state (molecule's
    ephemeral directory) is new each time: the sequence starts with `create`, which a state
    left by an interrupted run would skip (_remove_leftovers removes its containers)."""
    started = time.monotonic()
    log = ARTIFACTS / "molecule" / f"{role}-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=f"molecule-{role}-{name}-") as state,
        open(log, "w") as out,
    ):
        code = subprocess.run(
            ["molecule", "test", "-s", name],
            cwd=role_dir,
            env={**env, "MOLECULE_EPHEMERAL_DIRECTORY": state},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    return f"{role}/{name}", code == 0, time.monotonic() - started


# The longest scenarios (s, CI on 2 cores, two at a time: patroni ~300, each backup ~210, the
# others 50-120) start first: started last, one of them ran alone after the others and made
# the roles suite ~2 minutes longer than the sum allows.
SLOW_SCENARIOS = ("postgresql/patroni", "backup/default", "backup/single")


def _slow_first(scenario: Path) -> tuple[int, str]:
    name = f"{scenario.parts[-4]}/{scenario.parts[-2]}"
    rank = SLOW_SCENARIOS.index(name) if name in SLOW_SCENARIOS else len(SLOW_SCENARIOS)
    return rank, name


def _scenarios(k: str | None) -> tuple[list[tuple[str, str, Path]], int]:
    """(role, scenario, role dir) of every molecule scenario -k keeps, the slowest first; how
    many it left out."""
    chosen, skipped = [], 0
    for scenario in sorted(ROOT.glob("roles/*/molecule/*/molecule.yml"), key=_slow_first):
        role, name = scenario.parts[-4], scenario.parts[-2]
        if k and k not in f"{role}/{name}":
            skipped += 1
        else:
            chosen.append((role, name, scenario.parents[2]))
    return chosen, skipped


def _platforms(role_dir: Path, name: str, key: str = "name") -> list[str]:
    """The container names of a molecule scenario (its platforms), or another key of them
    (`image`: the images a scenario names instead of the shared config's)."""
    import yaml

    config = yaml.safe_load((role_dir / "molecule" / name / "molecule.yml").read_text())
    return [platform[key] for platform in config.get("platforms", []) if key in platform]


def _other_releases(scenarios: list[tuple[str, str, Path]]) -> list[str]:
    """The Debian releases besides the lab's whose bare image these scenarios' platforms run on
    (a platform naming `image: preau-lab:trixie-bare` proves its role on Debian 13)."""
    from .lab import image

    named = {ref for _, name, role_dir in scenarios for ref in _platforms(role_dir, name, "image")}
    return [
        suite
        for suite in image.SUITES
        if suite != image.SUITE and f"{image.REPOSITORY}:{image.bare_tag(suite)}" in named
    ]


def _remove_leftovers(client: Any, scenarios: list[tuple[str, str, Path]]) -> None:
    """The containers an interrupted run left of these scenarios, removed: the scenarios start
    with `create`, not with a `destroy` that finds nothing to remove on a fresh machine (~10 s
    of ansible-playbook per scenario, ~1 minute of the roles suite)."""
    from docker.errors import NotFound

    for role, name, role_dir in scenarios:
        for platform in _platforms(role_dir, name):
            try:
                client.containers.get(platform).remove(force=True)
            except NotFound:
                continue
            ui.console.print(f"[dim]removed {platform}, left by an earlier {role}/{name}[/]")


def molecule_strategy() -> dict[str, str]:
    """The scenarios' converges run with Mitogen's strategy, as `deploy.py converge` does: each
    of their plays takes its strategy from PREAU_MOLECULE_STRATEGY (plain `linear` when unset,
    as with `molecule test` by hand). backup/default: 256 s and 267 s of CPU with Ansible's
    own strategy, 142 s and 133 s with Mitogen's (a task runs in one Python per host, not one
    `docker exec` and Python each). base/default keeps Ansible's own, so the roles are still
    tested both ways: base is the role every host runs. Molecule's create and destroy
    playbooks keep theirs (their async tasks never finished under Mitogen)."""
    from .converge import mitogen_envvars

    plugins = mitogen_envvars()["ANSIBLE_STRATEGY_PLUGINS"]
    return {"ANSIBLE_STRATEGY_PLUGINS": plugins, "PREAU_MOLECULE_STRATEGY": "mitogen_linear"}


def _molecule_all(k: str | None) -> Counts:
    from .lab import engine, image

    client = _host_images()
    scenarios, skipped = _scenarios(k)
    for suite in _other_releases(scenarios):
        with engine.preparing():
            image.build_bare(client, suite=suite)
    env = dict(
        os.environ,
        PREAU_DEBIAN_MIRROR_IP=_mirror_ip(),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        **molecule_strategy(),
    )
    _remove_leftovers(client, scenarios)
    passed = failed = 0
    named = FAILURES.setdefault("roles", [])
    # Two scenarios at a time: each is mostly waiting on dpkg/systemd in its containers.
    # `deploy.py down` (the lab suite's last test) does not stop the engine under them.
    with engine.in_use(), ThreadPoolExecutor(max_workers=MOLECULE_PARALLEL) as pool:
        futures = [pool.submit(_molecule, *item, env) for item in scenarios]
        for future in as_completed(futures):
            name, ok, duration = future.result()
            log = ARTIFACTS / "molecule" / f"{name.replace('/', '-')}.log"
            if ok:
                passed += 1
                ui.console.print(f"[green]✓[/] molecule test {name} [dim]({duration:.0f} s)[/]")
            else:
                failed += 1
                named.append(f"molecule {name} ({log.relative_to(ROOT)})")
                ui.console.print(
                    f"[red]✗ molecule test {name}[/] ({duration:.0f} s), "
                    f"log {log.relative_to(ROOT)}; last lines:"
                )
                ui.console.print("\n".join(log.read_text().splitlines()[-30:]), markup=False)
    return passed, failed, skipped


def _promtool(k: str | None) -> Counts:
    """promtool's unit tests of the alert rules: one test, or none when -k leaves it out."""
    rule_tests = sorted(ROOT.glob("monitoring/tests/*.yml"))
    if not rule_tests or (k and k not in "promtool"):
        return 0, 0, 0
    promtool = shutil.which("promtool")
    if promtool is None:
        raise OpsError(
            "promtool is needed for the alert rule tests",
            "apt-get install --no-install-recommends prometheus",
        )
    command = [promtool, "test", "rules", *map(str, rule_tests)]
    code = subprocess.run(command, cwd=ROOT / "monitoring", check=False).returncode
    if code != 0:
        FAILURES.setdefault("roles", []).append("promtool test rules (monitoring/tests)")
    return (1, 0, 0) if code == 0 else (0, 1, 0)


def _roles(k: str | None, summary: ui.Summary) -> Counts:
    """molecule test per role scenario, then promtool rule tests; (passed, failed, skipped).
    ansible-lint is the lint suite's."""
    _system_packages()
    ui.console.rule("[bold]roles[/]")
    return _add(_molecule_all(k), _promtool(k))


# ------------------------------------------------------------------------------ the run

RUNNERS: dict[str, Callable[[str | None, ui.Summary], Counts]] = {
    "lint": _lint,
    "unit": _unit,
    "app": _app,
    "roles": _roles,
    "lab": _lab,
}


def _add(a: Counts, b: Counts) -> Counts:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def _chosen(suites: list[str]) -> list[str]:
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise OpsError(
            f"unknown test suite(s): {', '.join(unknown)}", f"suites: {', '.join(SUITES)}"
        )
    return [s for s in SUITES if s in suites] or list(SUITES)


def _stop_after_lint(rest: list[str], summary: ui.Summary) -> None:
    for suite in rest:
        summary.add(suite, "skipped", "not run: lint failed (--keep-going runs it anyway)")
    ui.console.print(
        f"[red]lint failed[/]: {', '.join(rest)} not run (fix the errors above, "
        "or --keep-going to run them anyway)"
    )


def _report(suite: str, counts: Counts, started: float, summary: ui.Summary) -> None:
    passed, failed, skipped = counts
    detail = (
        f"{passed} passed, {failed} failed, {skipped} skipped in {time.monotonic() - started:.0f} s"
    )
    named = FAILURES.get(suite, [])
    if named:
        more = len(named) - NAMED_FAILURES
        detail += "; failed: " + ", ".join(named[:NAMED_FAILURES])
        detail += f" and {more} more" if more > 0 else ""
    summary.add(suite, "failed" if failed else "ok", detail)


def _host_images() -> Any:
    """The Docker engine (started if none answers) with the lab's host images, built once;
    its client. Under engine.preparing: the lab's preparation and the roles suite beside it
    may both get here."""
    from .lab import engine, image

    with engine.preparing(), ui.step("Docker engine and host images") as progress:
        client = engine.ensure(progress)
        built = image.build_bare(client, progress)
        built = image.build_baked(client, progress) or built
        progress.detail = "built" if built else "cached"
    return client


def _beside_command(suites: list[str], k: str | None) -> list[str]:
    command = [sys.executable, str(ROOT / "deploy.py"), "test", *suites]
    return command + (["-k", k] if k else [])


@dataclass(frozen=True)
class Background:
    """Suites run as one `deploy.py test` in the background: beside the lab (at the lowest
    priority, their last lines shown when the lab ends) or lint while the lab is prepared."""

    suites: list[str]
    log: str  # under artifacts/
    says: str  # when it starts: "run beside the lab"
    ran: str  # when it ends: "beside the lab"
    nice: bool  # the lowest priority
    tail: int | None  # lines of the log shown at the end (None: all)


def _beside(suites: list[str]) -> Background:
    return Background(
        suites, "beside.log", "run beside the lab", "beside the lab", True, SHOWN_TAIL
    )


LINT_ASIDE = Background(
    ["lint"], "lint.log", "runs while the lab is prepared", "first", False, None
)


def _start_beside(what: Background, k: str | None) -> subprocess.Popen[bytes]:
    """`deploy.py test SUITES` in the background, its output in artifacts/LOG."""
    log = ARTIFACTS / what.log
    log.parent.mkdir(parents=True, exist_ok=True)
    ui.console.print(
        f"[bold]{' and '.join(what.suites)}[/] {what.says}, output in {log.relative_to(ROOT)}"
    )
    command = _beside_command(what.suites, k)
    with open(log, "wb") as out:
        return subprocess.Popen(
            ["nice", "-n", "19", *command] if what.nice else command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: _stop_beside ends all of it
        )


def _stop_beside(process: subprocess.Popen[bytes]) -> None:
    """End suites run in the background, with every process they started (lint failed: the
    run stops there). Molecule containers an ended scenario left are removed by the next
    roles run (_remove_leftovers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _end_beside(process: subprocess.Popen[bytes], what: Background) -> Counts:
    """Wait for suites run in the background; show their log's end; their counts (its last
    line). Beside the lab, an exit code the counts do not explain counts as a failure; lint's
    counts say it all (with -k it may run no tool, which its own exit code calls a failure)."""
    process.wait()
    ui.console.rule(f"[bold]{' and '.join(what.suites)}[/] (ran {what.ran})")
    lines = (ARTIFACTS / what.log).read_text(errors="replace").splitlines()
    shown = lines if what.tail is None else lines[-what.tail :]
    ui.console.print("\n".join(shown), markup=False)
    try:
        passed, failed, skipped = (int(word) for word in lines[-1].split()[::2])
    except (IndexError, ValueError):
        return 0, 1, 0  # it did not get to its counts: count that as a failure
    if process.returncode and not failed and what.nice:
        failed = 1
    return passed, failed, skipped


def _runners(
    suites: list[str], drills: bool
) -> dict[str, Callable[[str | None, ui.Summary], Counts]]:
    if drills and suites != ["lab"]:
        raise OpsError(
            "--drills runs the lab's long fault drills alone",
            "./deploy.py test lab --drills",
        )
    runners = dict(RUNNERS)
    if drills:
        runners["lab"] = functools.partial(_lab, drills=True)
    return runners


def _start_background(
    chosen: list[str], beside: list[str], k: str | None
) -> tuple[subprocess.Popen[bytes] | None, subprocess.Popen[bytes] | None]:
    """With the lab: lint started in the background, then the system packages, the suites
    beside the lab started, and the lab's host images built while they run; (lint's run,
    theirs), each None when not started."""
    lint_aside = beside_run = None
    if "lab" not in chosen or not (beside or "lint" in chosen):
        return None, None
    if "lint" in chosen:
        lint_aside = _start_beside(LINT_ASIDE, k)
    _system_packages(lab=True)
    if beside:
        beside_run = _start_beside(_beside(beside), k)
    _host_images()
    return lint_aside, beside_run


def run(
    suites: list[str], k: str | None = None, keep_going: bool = False, drills: bool = False
) -> int:
    """Run the chosen suites (all by default) in SUITES' order, those of BESIDE_LAB beside the
    lab when it is chosen; 0 when all passed. DRILLS: the lab suite's long fault drills alone
    (only with the lab suite named)."""
    chosen = _chosen(suites)
    runners = _runners(suites, drills)
    beside = [s for s in BESIDE_LAB if s in chosen] if "lab" in chosen else []
    summary = ui.Summary("deploy.py test")
    other = other_lab() if "lab" in chosen else None
    if other:
        ui.console.print(f"[yellow]note:[/] {_other_lab_note(other)}")
    totals: Counts = (0, 0, 0)
    lint_started = time.monotonic()
    lint_aside, beside_run = _start_background(chosen, beside, k)
    for index, suite in enumerate(chosen):
        if suite in beside:
            continue
        started = lint_started if suite == "lint" else time.monotonic()
        if suite == "lint" and lint_aside is not None:
            counts = _end_beside(lint_aside, LINT_ASIDE)
        else:
            counts = runners[suite](k, summary)
        totals = _add(totals, counts)
        _report(suite, counts, started, summary)
        if suite == "lab" and beside_run is not None:
            counts = _end_beside(beside_run, _beside(beside))
            totals = _add(totals, counts)
            _report(" + ".join(beside) + " (beside the lab)", counts, lint_started, summary)
        rest = chosen[index + 1 :]
        if suite == "lint" and counts[1] and rest and not keep_going:
            if beside_run is not None:
                _stop_beside(beside_run)
            _stop_after_lint(rest, summary)
            break
    summary.show()
    passed, failed, skipped = totals
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 1 if failed or passed == 0 else 0
