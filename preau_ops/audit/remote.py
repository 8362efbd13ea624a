"""Verifying live state with pytest-testinfra, read-only, from the one inventory.

`deploy.py audit` runs the suite in tests/audit/ in parallel (pytest-xdist, one worker per
host) and writes JUnit XML, JSON and a self-contained HTML report. Nothing on the servers is
changed: controls only read files and run read-only commands; where root is needed they run
the exact command lines the base role's sudoers rule allows the `auditor` account, so the same
suite works with `--as-auditor` (connects as that account, which cannot write anything).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import OpsError
from .inventory import Host, Inventory
from .paths import ARTIFACTS, ROOT, STATE_DIR

SUITE = ROOT / "tests" / "audit"


def testinfra_host(host: Host, sudo: bool = False):
    """A testinfra Host over OpenSSH with the inventory's user, key and known hosts."""
    import testinfra

    extra = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    if host.known_hosts_file:
        extra += ["-o", f"UserKnownHostsFile={host.known_hosts_file}",
                  "-o", "StrictHostKeyChecking=yes"]
    return testinfra.get_host(
        f"ssh://{host.user}@{host.address}:{host.port}",
        ssh_identity_file=host.key_file, ssh_extra_args=" ".join(extra), sudo=sudo)


def auditor_of(host: Host) -> Host:
    """The same host seen by the read-only auditor account (base_auditor_user).

    Key: PREAU_AUDITOR_SSH_KEY if set; in the lab the inventory's key (the lab declares it
    for the auditor too); elsewhere the auditor's own ssh-agent / default keys."""
    user = host.vars.get("base_auditor_user") or "auditor"
    key = os.environ.get("PREAU_AUDITOR_SSH_KEY")
    if not key and host.key_file and Path(host.key_file).resolve().is_relative_to(
            STATE_DIR.resolve()):
        key = host.key_file
    new_vars = {k: v for k, v in host.vars.items() if k != "ansible_ssh_private_key_file"}
    new_vars["ansible_user"] = user
    if key:
        new_vars["ansible_ssh_private_key_file"] = key
    return dataclasses.replace(host, vars=new_vars)


class Remote:
    """A host for the audit: commands as an unprivileged account; `root()` runs one of the
    exact command lines the auditor's sudoers rule allows (the admin account may run them
    too, so both modes take the same path)."""

    def __init__(self, host: Host, as_auditor: bool = False, control_dir: str | None = None):
        import testinfra

        self.inventory_host = host
        self.as_auditor = as_auditor
        target = auditor_of(host) if as_auditor else host
        self.user = target.user
        extra = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if target.known_hosts_file:
            extra += ["-o", f"UserKnownHostsFile={target.known_hosts_file}",
                      "-o", "StrictHostKeyChecking=yes"]
        kwargs = {}
        if control_dir:
            kwargs = {"controlpath": f"{control_dir}/%%C", "controlpersist": 30}
        self.host = testinfra.get_host(
            f"ssh://{target.user}@{target.address}:{target.port}",
            ssh_identity_file=target.key_file, ssh_extra_args=" ".join(extra), **kwargs)
        self._cache: dict = {}

    @property
    def name(self) -> str:
        return self.inventory_host.name

    def run(self, command: str):
        """testinfra CommandResult (rc, stdout, stderr) of an unprivileged command."""
        return self.host.run(command)

    def out(self, command: str) -> str:
        result = self.run(command)
        if result.rc != 0:
            raise AssertionError(f"{self.name}: `{command}` failed ({result.rc}): "
                                 f"{(result.stderr or result.stdout).strip()[-300:]}")
        return result.stdout

    def root(self, command: str):
        """One allowed read-only command as root (`sudo -n`: never waits for a password)."""
        return self.host.run(f"sudo -n {command}")

    def root_out(self, command: str) -> str | None:
        """Output of a root command, or None when sudo refuses it (not in the rule)."""
        result = self.root(command)
        if result.rc != 0:
            if "sudo" in result.stderr and ("not allowed" in result.stderr
                                            or "password is required" in result.stderr):
                return None
            raise AssertionError(f"{self.name}: `sudo {command}` failed ({result.rc}): "
                                 f"{(result.stderr or result.stdout).strip()[-300:]}")
        return result.stdout

    def read(self, path: str) -> str | None:
        """A file's text: directly when readable, else `sudo cat` (one rule per file);
        None when neither is allowed. Missing files raise FileNotFoundError."""
        quoted = shlex.quote(path)
        result = self.run(f"cat {quoted}")
        if result.rc == 0:
            return result.stdout
        if "No such file" in result.stderr:
            raise FileNotFoundError(path)
        result = self.root(f"/usr/bin/cat {quoted}")
        if result.rc == 0:
            return result.stdout
        if "No such file" in result.stderr:
            raise FileNotFoundError(path)
        return None

    def in_container(self) -> bool:
        if "container" not in self._cache:
            self._cache["container"] = self.run("systemd-detect-virt --container").rc == 0
        return self._cache["container"]


# --------------------------------------------------------------------------- the command

@dataclasses.dataclass
class AuditRun:
    code: int
    report_dir: Path
    data: dict


def run(inv: Inventory, *, limit: str | None = None, controls: list[str] | None = None,
        report_dir: Path | None = None, as_auditor: bool = False, lynis_scan: bool = False,
        lang: str = "fr", workers: int | None = None, progress=None) -> AuditRun:
    """Run the suite; write audit.xml (JUnit), audit.json and audit.html in report_dir."""
    from . import audit_report

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
        command = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider",
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
    data.update(audit_report.summarise(data["results"]))
    data.update({"inventory": inv.name, "hosts": [h.name for h in hosts],
                 "account": (auditor_of(hosts[0]).user if as_auditor else hosts[0].user)
                 if hosts else "", "as_auditor": as_auditor, "controls": controls or [],
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                 "duration": round(time.time() - started, 1)})
    (report_dir / "audit.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
    (report_dir / "audit.html").write_text(audit_report.render_html(data, lang))
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
