"""`deploy.py audit`: run the controls, then write the reports.

The controls (controls/, pytest files) run in parallel (pytest-xdist, one worker per host) and
the run writes JUnit XML, JSON and a self-contained HTML report. Nothing on the servers is
changed: controls only read files and run read-only commands; where root is needed they run
the exact command lines the base role's sudoers rule allows the `auditor` account, so the same
suite works with `--as-auditor` (connects as that account, which cannot write anything).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import operations
from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..paths import ARTIFACTS, ROOT
from . import catalogue, coverage, history, report, seal, waivers
from .catalogue import control_files
from .declared import in_groups
from .remote import auditor_of

if TYPE_CHECKING:
    from rich.console import Console


# xdist workers: one per host (a host's controls run in one worker, over its SSH connection)
# and one for the platform's, up to this many: on 2 cores, 7 workers for the 6-host prodlike
# lab took 42 s where 4 took 36 (each check waits longer on the shared cores).
MAX_WORKERS = 4
# A run whose controls reach one host or one platform control (`--control OPS-01`, `--limit
# db --control SSH`) runs them in pytest's own process: each worker costs ~1.7 s of CPU to
# start (imports, collection, the inventory), and one control on the prodlike lab took 9.1 s
# of CPU with 4 workers, 2.1 s without.
ONE_GROUP = 0


@dataclasses.dataclass
class AuditRun:
    code: int
    report_dir: Path
    data: dict[str, Any]
    signed_by: str | None = None  # the key that signed MANIFEST; None: unsigned


@dataclasses.dataclass(frozen=True)
class _Request:
    limit: str | None
    controls: list[str]
    as_auditor: bool
    lynis_scan: bool
    skip: list[str] = dataclasses.field(default_factory=list)


def run(
    inv: Inventory,
    *,
    limit: str | None = None,
    controls: list[str] | None = None,
    skip: list[str] | None = None,
    report_dir: Path | str | None = None,
    as_auditor: bool = False,
    lynis_scan: bool = False,
    lang: str = "fr",
    workers: int | None = None,
    progress: Progress | None = None,
    history_dir: Path | str | None = None,
    keep_history: bool = True,
    sign_key: str | None = None,
) -> AuditRun:
    """Run the suite; write audit.xml (JUnit), audit.json and audit.html in report_dir, keep
    audit.json in the inventory's history (unless keep_history is false: a command's own
    check, as patch's, is no audit of the platform to compare with), then seal report_dir
    (MANIFEST, signed with sign_key when given)."""
    request = _Request(limit, controls or [], as_auditor, lynis_scan, skip or [])
    hosts = inv.limited(limit)
    accepted = waivers.load(inv, {c.id for c in catalogue.declared().values()})
    out = Path(report_dir or ARTIFACTS / "audit")
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    count = workers or _worker_count(_groups(hosts, request))
    if progress is not None:
        progress.update(f"{len(hosts)} hosts, " + (f"{count} workers" if count else "one process"))
    data, returncode = _run_suite(inv, request, out, count)
    data["results"] = waivers.apply(data["results"], accepted, datetime.date.today())
    waivers.apply_to_junit(out / "audit.xml", data["results"])
    data.update(report.summarise(data["results"]))
    data["coverage"] = coverage.section(data["results"])
    data.update(_about(inv, hosts, request, started))
    data["waivers"] = [{"control": w.control, **w.shown()} for w in accepted]
    kept = history.directory(inv, history_dir) if keep_history else None
    data["since"] = history.since(inv, history.previous(kept), data) if kept else {}
    (out / "audit.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
    (out / "audit.html").write_text(report.render_html(data, lang))
    if kept:
        history.store(kept, data)
        days, now = history.keep_days(inv), datetime.datetime.now(datetime.UTC)
        data["history_pruned"] = {"days": days, "removed": len(history.prune(kept, days, now))}
    signed_by = _seal(inv, out, sign_key)
    failed = data["counts"]["failed"]
    code = 1 if failed or returncode not in (0, 1) or not data["results"] else 0
    return AuditRun(code, out, data, signed_by)


def _seal(inv: Inventory, out: Path, sign_key: str | None) -> str | None:
    """MANIFEST of the report directory, signed with sign_key when given."""
    seal.write(
        out,
        {
            "inventory": inv.name,
            "inventory_sha256": seal.inventory_hash(inv.path),
            "revision": operations.revision(),
            "sealed": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
    )
    if sign_key:
        seal.sign(out, sign_key)
    return sign_key or None


def _groups(hosts: list[Host], request: _Request) -> set[str]:
    """The xdist groups the run's controls fall in (controls/conftest.py): a host for each host
    some selected control checks, a control id for each selected platform control."""
    found: set[str] = set()
    for where, control in catalogue.declared().items():
        if not catalogue.selected(control.id, request.controls, request.skip):
            continue
        if catalogue.checks_hosts(where):
            found |= {h.name for h in hosts if in_groups(h, control.groups)}
        else:
            found.add(control.id)
    return found


def _worker_count(groups: set[str]) -> int:
    return min(len(groups), MAX_WORKERS) if len(groups) > 1 else ONE_GROUP


def _run_suite(
    inv: Inventory, request: _Request, report_dir: Path, workers: int
) -> tuple[dict[str, Any], int]:
    """(the results the suite wrote, pytest's exit code)."""
    with tempfile.TemporaryDirectory(prefix="preau-audit-") as tmp:
        control_dir = Path(tmp) / "ssh"
        control_dir.mkdir(mode=0o700)
        results = Path(tmp) / "results.json"
        env = _environment(inv, request, control_dir, results)
        command = _command(workers, report_dir)
        proc = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        _close_masters(control_dir)
        if not results.exists():
            raise OpsError("the audit suite did not run:\n" + (proc.stdout + proc.stderr)[-3000:])
        data: dict[str, Any] = json.loads(results.read_text())
    return data, proc.returncode


def _environment(
    inv: Inventory, request: _Request, control_dir: Path, results: Path
) -> dict[str, str]:
    """The options, as the controls' conftest reads them (catalogue.options)."""
    env = dict(
        os.environ,
        PREAU_AUDIT_INVENTORY=str(inv.path),
        PREAU_AUDIT_LIMIT=request.limit or "",
        PREAU_AUDIT_CONTROLS=",".join(request.controls),
        PREAU_AUDIT_SKIP=",".join(request.skip),
        PREAU_AUDIT_AS_AUDITOR="1" if request.as_auditor else "0",
        PREAU_AUDIT_LYNIS_SCAN="1" if request.lynis_scan else "0",
        PREAU_AUDIT_CONTROL_DIR=str(control_dir),
        PREAU_AUDIT_RESULTS=str(results),
    )
    if inv.vault_password_file:
        env["PREAU_VAULT_PASSWORD_FILE"] = str(inv.vault_password_file)
    return env


def _command(workers: int, report_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", *map(str, control_files()), "-q",
        "-p", "no:cacheprovider",
        "-p", "no:randomly",  # keep drift first
        "-p", "no:pytest11.testinfra",  # our `host` is an inventory host, not its fixture
        "-n", str(workers), "--dist", "loadgroup",
        "-o", "junit_family=xunit1", "-o", "junit_suite_name=preau-audit",
        f"--junitxml={report_dir / 'audit.xml'}", "-W", "ignore::DeprecationWarning",
    ]  # fmt: skip


def _about(inv: Inventory, hosts: list[Host], request: _Request, started: float) -> dict[str, Any]:
    """The run's facts shown at the top of the reports."""
    account = ""
    if hosts:
        account = auditor_of(hosts[0]).user if request.as_auditor else hosts[0].user
    return {
        "inventory": inv.name,
        "hosts": [h.name for h in hosts],
        "account": account,
        "as_auditor": request.as_auditor,
        "controls": request.controls,
        "skipped_controls": request.skip,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration": round(time.time() - started, 1),
    }


def _close_masters(control_dir: Path) -> None:
    """Close the SSH control masters this run opened (nothing keeps running after it)."""
    for socket in control_dir.glob("*"):
        subprocess.run(
            ["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "preau-audit"],
            capture_output=True,
            timeout=10,
            check=False,
        )


def print_summary(run: AuditRun, console: Console) -> None:
    """Findings, waived and skipped controls with their reasons, what changed since the last
    audit, then where the reports are and whether they are signed."""
    from rich.table import Table

    data = run.data
    table = Table(
        title=f"Audit {data['inventory']} — score {data['score']} % ({data['duration']} s)",
        title_justify="left",
    )
    for column in ("control", "host", "result", "why"):
        table.add_column(column)
    colours = {"failed": "red", "waived": "cyan", "skipped": "yellow"}
    for result in sorted(data["results"], key=lambda r: (r["status"], r["control"], r["host"])):
        if result["status"] == "passed":
            continue
        why = result["message"]
        if result["status"] == "waived":
            waiver = result["waiver"]
            why = (
                f"{why} — waived by {waiver['accepted_by']} until {waiver['expires']}: "
                f"{waiver['justification']}"
            )
        table.add_row(
            result["control"],
            result["host"],
            f"[{colours[result['status']]}]{result['status']}[/]",
            why[:300],
        )
    if table.rows:
        console.print(table)
    console.print(_since_line(data.get("since") or {}))
    pruned = data.get("history_pruned") or {}
    if pruned.get("removed"):
        console.print(
            f"History: {pruned['removed']} audit(s) started over {pruned['days']} days ago "
            "removed (preau_audit_history_days)."
        )
    counts = data["counts"]
    sealed = (
        f"MANIFEST signed with {run.signed_by}"
        if run.signed_by
        else "MANIFEST unsigned (no --sign-key)"
    )
    console.print(
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['waived']} waived, "
        f"{counts['skipped']} not verified. Reports: {run.report_dir}/audit.html, audit.json, "
        f"audit.xml; {sealed}"
    )


def _since_line(since: dict[str, Any]) -> str:
    if not since:
        return "Since last time: not compared (this run is kept in no history)."
    if not since.get("previous"):
        return "Since last time: first audit of this inventory."
    operations_seen = since["operations"]["entries"]
    return (
        f"Since the audit of {since['previous']}: {len(since['new_failures'])} new failure(s), "
        f"{len(since['fixed'])} fixed, {len(since['new_hosts'])} new host(s), "
        f"{len(since['new_controls'])} new control(s); "
        + (
            f"{len(operations_seen)} operation(s) in between"
            if operations_seen is not None
            else since["operations"]["error"]
        )
    )
