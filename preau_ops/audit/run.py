"""`deploy.py audit`: run the controls, then write the reports.

The controls (controls/, pytest files) run in parallel (pytest-xdist, one worker per host) and
the run writes JUnit XML, JSON and a self-contained HTML report. Nothing on the servers is
changed: controls only read files and run read-only commands; where root is needed they run
the exact command lines the base role's sudoers rule allows the `auditor` account, so the same
suite works with `--as-auditor` (connects as that account, which cannot write anything).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import OpsError
from ..inventory import Inventory
from ..paths import ARTIFACTS, ROOT
from . import report
from .remote import auditor_of

CONTROLS = Path(__file__).parent / "controls"


def control_files() -> list[Path]:
    """The control modules, in name order (drift.py first: the slowest control starts at once).

    Passed to pytest by path, so their names need not start with test_."""
    return sorted(p for p in CONTROLS.glob("*.py") if p.name not in ("__init__.py", "conftest.py"))


@dataclasses.dataclass
class AuditRun:
    code: int
    report_dir: Path
    data: dict


def run(inv: Inventory, *, limit: str | None = None, controls: list[str] | None = None,
        report_dir: Path | None = None, as_auditor: bool = False, lynis_scan: bool = False,
        lang: str = "fr", workers: int | None = None, progress=None) -> AuditRun:
    """Run the suite; write audit.xml (JUnit), audit.json and audit.html in report_dir."""
    hosts = inv.limited(limit)
    report_dir = Path(report_dir or ARTIFACTS / "audit")
    report_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="preau-audit-") as tmp:
        control_dir = Path(tmp) / "ssh"
        control_dir.mkdir(mode=0o700)
        results = Path(tmp) / "results.json"
        env = dict(os.environ,
                   PREAU_AUDIT_INVENTORY=str(inv.path), PREAU_AUDIT_LIMIT=limit or "",
                   PREAU_AUDIT_CONTROLS=",".join(controls or []),
                   PREAU_AUDIT_AS_AUDITOR="1" if as_auditor else "0",
                   PREAU_AUDIT_LYNIS_SCAN="1" if lynis_scan else "0",
                   PREAU_AUDIT_CONTROL_DIR=str(control_dir),
                   PREAU_AUDIT_RESULTS=str(results))
        if inv.vault_password_file:
            env["PREAU_VAULT_PASSWORD_FILE"] = str(inv.vault_password_file)
        count = workers or min(len(hosts) + 1, 4)
        command = [sys.executable, "-m", "pytest", *map(str, control_files()), "-q",
                   "-p", "no:cacheprovider", "-p", "no:randomly",  # keep drift first
                   "-p", "no:pytest11.testinfra",  # our `host` is an inventory host, not its fixture
                   "-n", str(count), "--dist", "loadgroup",
                   "-o", "junit_family=xunit1", "-o", "junit_suite_name=preau-audit",
                   f"--junitxml={report_dir / 'audit.xml'}", "-W", "ignore::DeprecationWarning"]
        if progress is not None:
            progress.update(f"{len(hosts)} hosts, {count} workers")
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        _close_masters(control_dir)
        if not results.exists():
            raise OpsError("the audit suite did not run:\n" + (proc.stdout + proc.stderr)[-3000:])
        data = json.loads(results.read_text())
    data.update(report.summarise(data["results"]))
    data.update({"inventory": inv.name, "hosts": [h.name for h in hosts],
                 "account": (auditor_of(hosts[0]).user if as_auditor else hosts[0].user)
                 if hosts else "", "as_auditor": as_auditor, "controls": controls or [],
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                 "duration": round(time.time() - started, 1)})
    (report_dir / "audit.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
    (report_dir / "audit.html").write_text(report.render_html(data, lang))
    failed = data["counts"]["failed"]
    code = 1 if failed or proc.returncode not in (0, 1) or not data["results"] else 0
    return AuditRun(code, report_dir, data)


def _close_masters(control_dir: Path) -> None:
    """Close the SSH control masters this run opened (nothing keeps running after it)."""
    for socket in control_dir.glob("*"):
        subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "preau-audit"],
                       capture_output=True, timeout=10)


def print_summary(run: AuditRun, console) -> None:
    """Findings and skipped controls with their reasons, then where the reports are."""
    from rich.table import Table

    data = run.data
    table = Table(title=f"Audit {data['inventory']} — score {data['score']} % "
                        f"({data['duration']} s)", title_justify="left")
    for column in ("control", "host", "result", "why"):
        table.add_column(column)
    for result in sorted(data["results"], key=lambda r: (r["status"], r["control"], r["host"])):
        if result["status"] == "passed":
            continue
        colour = "red" if result["status"] == "failed" else "yellow"
        table.add_row(result["control"], result["host"],
                      f"[{colour}]{result['status']}[/]", result["message"][:300])
    if table.rows:
        console.print(table)
    counts = data["counts"]
    console.print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} "
                  f"not verified. Reports: {run.report_dir}/audit.html, audit.json, audit.xml")
