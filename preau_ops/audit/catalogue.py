"""The controls' bookkeeping: what a control declares, which ones a run selects, and the record
of each result.

A control is a pytest function in controls/ marked with

    @pytest.mark.control("SSH-01", "title", "requirement", groups=("all",))

Its id names it in every report and in `--control`; its requirement names the texts it
verifies (ANSSI-BP-028 rules, the declared state, an issue); groups are the inventory groups
whose hosts it checks ("all": every host).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

import pytest

from .coverage import requirement_ids

CONTROLS = Path(__file__).parent / "controls"
ID = re.compile(r"^[A-Z]+-\d{2}$")
STATUSES = ("passed", "failed", "waived", "skipped")  # waived: a failure a waiver covers
OUTPUT_KEPT = 600  # characters of a command's output kept as evidence (head and tail)


@dataclasses.dataclass(frozen=True)
class Control:
    id: str
    title: str
    requirement: str
    groups: tuple[str, ...]


def control_files() -> list[Path]:
    """The control modules, in name order (drift.py first: the slowest control starts at once).

    Passed to pytest by path, so their names need not start with test_."""
    return sorted(p for p in CONTROLS.glob("*.py") if p.name not in ("__init__.py", "conftest.py"))


def from_mark(mark: pytest.Mark) -> Control:
    control_id, title, requirement = mark.args
    return Control(control_id, title, requirement, tuple(mark.kwargs.get("groups", ("all",))))


def of(node: pytest.Item) -> Control | None:
    """The control a collected test (or its definition) is, None for anything else."""
    mark = node.get_closest_marker("control")
    return None if mark is None else from_mark(mark)


def declared() -> dict[str, Control]:
    """Every control of controls/, by its function's qualified name."""
    found: dict[str, Control] = {}
    for path in control_files():
        module = importlib.import_module(f"{__package__}.controls.{path.stem}")
        for name, function in sorted(vars(module).items()):
            marks = [m for m in getattr(function, "pytestmark", []) if m.name == "control"]
            if callable(function) and marks:
                found[f"{path.stem}.{name}"] = from_mark(marks[0])
    return found


def checks_hosts(where: str) -> bool:
    """Whether the control at `where` (a key of declared()) runs once per host (it takes a
    `host`) rather than once for the platform."""
    module, name = where.split(".")
    function = getattr(importlib.import_module(f"{__package__}.controls.{module}"), name)
    return "host" in inspect.signature(function).parameters


def problems(controls: dict[str, Control], known_groups: set[str]) -> list[str]:
    """What makes a catalogue unusable in a report: bad or repeated ids, no requirement."""
    found: list[str] = []
    seen: dict[str, str] = {}
    for where, control in controls.items():
        if not ID.match(control.id):
            found.append(f"{where}: id {control.id!r} is not like SSH-01")
        if control.id in seen:
            found.append(f"{where}: id {control.id} already names {seen[control.id]}")
        seen[control.id] = where
        if not control.title.strip():
            found.append(f"{where} ({control.id}): no title")
        if not control.requirement.strip():
            found.append(f"{where} ({control.id}): names no requirement")
        elif not requirement_ids(control.requirement):
            found.append(
                f"{where} ({control.id}): its requirement names no id (ANSSI-BP-028 Rn, "
                "RGPD art. n, issue #n, declared state…: coverage.requirement_ids)"
            )
        unknown = set(control.groups) - known_groups - {"all"}
        if unknown or not control.groups:
            found.append(f"{where} ({control.id}): groups {sorted(unknown) or '()'} unknown")
    return found


class Options(TypedDict):
    """What `deploy.py audit` asks of the controls (run.py passes it in the environment)."""

    limit: str | None
    controls: list[str]
    skip: list[str]
    as_auditor: bool
    control_dir: str | None
    lynis_scan: bool


def options(environ: Mapping[str, str]) -> Options:
    return {
        "limit": environ.get("PREAU_AUDIT_LIMIT") or None,
        "controls": [c for c in environ.get("PREAU_AUDIT_CONTROLS", "").split(",") if c],
        "skip": [c for c in environ.get("PREAU_AUDIT_SKIP", "").split(",") if c],
        "as_auditor": environ.get("PREAU_AUDIT_AS_AUDITOR") == "1",
        "control_dir": environ.get("PREAU_AUDIT_CONTROL_DIR") or None,
        "lynis_scan": environ.get("PREAU_AUDIT_LYNIS_SCAN") == "1",
    }


def _named(control_id: str, names: list[str]) -> bool:
    return any(control_id == n or control_id.startswith(n.rstrip("-") + "-") for n in names)


def selected(control_id: str, wanted: list[str], skipped: list[str] | None = None) -> bool:
    """`--control SSH` selects SSH-01, SSH-02…; `--control SSH-01` that one only; `--skip`
    leaves out what it names the same way."""
    return (not wanted or _named(control_id, wanted)) and not _named(control_id, skipped or [])


def plain(text: object) -> str:
    """A plain str (inventory values are Ansible's tagged strings, which xdist cannot send)."""
    return str(text).encode().decode()


def properties(control: Control, host_name: str | None) -> list[tuple[str, object]]:
    """What a result carries from its control, set on the test before it runs."""
    return [
        ("control", control.id),
        ("title", control.title),
        ("requirement", control.requirement),
        ("host", plain(host_name) if host_name else "platform"),
    ]


class Evidence:
    """What a control saw, kept in its result (strings, one per fact)."""

    def __init__(self, node: pytest.Item) -> None:
        self._node = node

    def __call__(self, text: str) -> None:
        self._node.user_properties.append(("evidence", plain(text)))

    def command(self, command: str, rc: int, output: str) -> None:
        """A command the control ran on a host (remote.Remote.run), its output trimmed."""
        self._node.user_properties.append(
            ("command", {"command": plain(command), "rc": rc, "output": trimmed(plain(output))})
        )


def trimmed(output: str, keep: int = OUTPUT_KEPT) -> str:
    """An output short enough for a report: its head and its tail, the cut said."""
    output = output.strip()
    if len(output) <= keep:
        return output
    head, tail = output[: keep * 2 // 3], output[-(keep // 3) :]
    return f"{head}\n[… {len(output) - len(head) - len(tail)} characters cut …]\n{tail}"


def status(report: pytest.TestReport) -> str | None:
    """A control's result from one phase's report; None when that phase decides nothing."""
    if report.when == "call":
        return "passed" if report.passed else "skipped" if report.skipped else "failed"
    if report.when == "setup" and not report.passed:
        return "skipped" if report.skipped else "failed"
    if report.when == "teardown" and report.failed:
        return "failed"
    return None


def message(report: pytest.TestReport) -> str:
    """Why a control failed or was skipped, without pytest's decorations."""
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # skip: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message) if crash is not None else str(longrepr)
    text = text.removeprefix("AssertionError: ").removeprefix("Failed: ")
    return text.split("\nassert ")[0].strip()


def record(report: pytest.TestReport) -> dict[str, Any] | None:
    """The result of a control as the reports show it, or None (not a control, or a phase
    that decides nothing)."""
    props: dict[str, Any] = {
        k: v for k, v in report.user_properties if k not in ("evidence", "command")
    }
    result = status(report) if "control" in props else None
    if result is None:
        return None
    return {
        "control": props["control"],
        "title": props["title"],
        "requirement": props["requirement"],
        "host": props["host"],
        "status": result,
        "evidence": [v for k, v in report.user_properties if k == "evidence"],
        "commands": [v for k, v in report.user_properties if k == "command"],
        "message": message(report) if result != "passed" else "",
        "duration": round(report.duration, 2),
    }
