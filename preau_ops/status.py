"""`deploy.py status`: every host, service, release, backup and alert at a glance.

Read-only: a few `cat`/`systemctl is-active` per host over SSH (the runner's sessions, all
hosts in parallel), the backup metrics node_exporter publishes, the end date of each host's
certificate of the internal PKI (`internal_tls`), whether it waits for a reboot (Debian's apt
collector), Alertmanager's API asked from the monitoring host itself (so no firewall opening
is needed for the operator), whether the app answers its maintenance page (app hosts), the job
queue's state (`preau-manage jobs status`, asked of the first app host: the queue is the
platform's), and the operation layer's lock and last entries on the ops host.
The services shown for a host are the platform map's (preau_ops.platform.services).

`show` prints it for people; `document` is the same facts for machines (`status --json`),
in the shape docs/contracts.md documents ("The CLI's JSON documents").
"""

from __future__ import annotations

import json
import math
import re
import shlex
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from . import internal_tls, monitoring_api, operations, platform
from .inventory import Host, Inventory
from .release.host import APP_PORT, CURRENT, domain_of, manage_command
from .runner import Sessions, session

TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
ALERTS_PATH = "/api/v2/alerts?active=true"  # Alertmanager's, through monitoring_api
RECENT = 5  # operations log entries `status --json` carries (the screen shows the last)
WATCHDOG = "Watchdog"  # always firing (monitoring/rules/meta.yml): its absence is the problem
REBOOT_METRIC = "node_reboot_required"  # Debian's apt collector (apt.prom): 1 = waits
MAINTENANCE_PAGE = "est en maintenance"  # the app's maintenance page (core/errors.py)
METRIC_LINE = re.compile(r"^(\w+)(\{[^}]*\})?\s+([-0-9.e+]+)$")


@dataclass
class HostStatus:
    name: str
    groups: list[str]
    reachable: bool = False
    load: str = "?"
    disk: str = "?"
    services: dict[str, str] = field(default_factory=dict)
    release: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    cert_days: float | None = None  # days left on the host's certificate (internal PKI)
    maintenance: bool | None = None  # app hosts: the app answers its maintenance page

    @property
    def not_active(self) -> list[str]:
        """The map's services that are not active (their names)."""
        return [name for name, state in self.services.items() if state != "active"]

    @property
    def reboot_required(self) -> bool | None:
        """Whether the host waits for a reboot (apt collector's metric); None: not known."""
        value = self.metrics.get(REBOOT_METRIC)
        return None if value is None else value == 1


def _probe(sessions: Sessions, host: Host, status: HostStatus) -> None:
    """Load, disk, the map's services, the release served and the preau_* metrics of a host."""
    services = platform.services(host.groups, host.vars)
    script = (
        f"cut -d' ' -f1-3 /proc/loadavg; df --output=pcent / | tail -1; "
        f"systemctl is-active {' '.join(services)}; "
        f"echo ---; readlink {CURRENT} || true; echo ---; "
        f"cat {TEXTFILE_DIR}/preau_*.prom 2>/dev/null | grep -v '^#' || true; "
        f"grep -hs '^{REBOOT_METRIC} ' {TEXTFILE_DIR}/*.prom || true; "
        f"echo ---; {internal_tls.ENDDATE_COMMAND}"
    )
    if "app" in host.groups:
        script += f"; echo ---; {_maintenance_probe(host)}"
    out = sessions.run(host, script, check=False).stdout
    head, _, rest = out.partition("---")
    release, _, rest = rest.partition("---")
    metrics, _, rest = rest.partition("---")
    enddate, _, maintenance = rest.partition("---")
    status.maintenance = {"on": True, "off": False}.get(maintenance.strip())
    end = internal_tls.not_after(enddate)
    status.cert_days = None if end is None else internal_tls.days_left(end)
    lines = head.strip().splitlines()
    if len(lines) >= 2:
        status.load, status.disk = lines[0], lines[1].strip()
        status.services = dict(zip(services, lines[2:], strict=False))
    status.release = release.strip().rsplit("/", 1)[-1] or None
    for line in metrics.splitlines():
        match = METRIC_LINE.match(line.strip())
        if match:
            status.metrics[match.group(1) + (match.group(2) or "")] = float(match.group(3))


def _maintenance_probe(host: Host) -> str:
    """Shell that prints on, off or unknown: whether the app on the host answers its login page
    with the maintenance page (global maintenance: every page but the ops endpoints)."""
    url = internal_tls.local_url(host.name, APP_PORT, "/connexion/")
    ask = (
        f"curl -s -m 5 -w '%{{http_code}}' -H {shlex.quote('Host: ' + domain_of(host))} "
        f"-H 'X-Forwarded-Proto: https' {url}"
    )
    return (
        f'page=$({ask}); case "$page" in *"{MAINTENANCE_PAGE}"*) echo on;; '
        "*200) echo off;; *) echo unknown;; esac"
    )


def _alerts(sessions: Sessions, monitoring: Host) -> list[dict[str, Any]] | None:
    """Alertmanager's firing alerts, asked on the monitoring host (TLS, authenticated:
    monitoring_api); None when it does not answer."""
    ask = monitoring_api.command(monitoring_api.ALERTMANAGER, ALERTS_PATH)
    result = sessions.run(monitoring, ask, check=False)
    if not result.ok:
        return None
    try:
        alerts = json.loads(result.stdout)
    except ValueError:
        return []
    return alerts if isinstance(alerts, list) else []


@dataclass
class OperationsState:
    """The operation layer as the ops host shows it: the lock's owner (None: free; {}: held,
    its owner file missing or unreadable), the last entries of the log (oldest first), and how
    many entries wait on this controller for the next operation to append them there."""

    host: str
    lock: dict[str, Any] | None = None
    recent: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0


@dataclass
class Report:
    """Everything `collect` found."""

    hosts: list[HostStatus]
    alerts: list[dict[str, Any]] = field(default_factory=list)  # firing, the Watchdog left out
    watchdog: str = "unknown"  # firing | not firing | unknown (Alertmanager did not answer)
    problems: list[str] = field(default_factory=list)  # plain text, one problem each
    operations: OperationsState | None = None  # None: no ops host answered
    jobs: dict[str, Any] | None = None  # the job queue (`jobs status`); None: not read


def _operations(sessions: Sessions, ops: Host) -> OperationsState:
    """The platform lock's owner and the last RECENT entries of the operations log."""
    lock = operations.LOCK_DIR
    result = sessions.run(
        ops,
        f"cat {lock}/owner.json 2>/dev/null || {{ test -d {lock} && echo '{{}}'; }}; echo; "
        f"echo ---; tail -n {RECENT} {operations.REMOTE_LOG} 2>/dev/null",
        check=False,
    )
    owner_text, _, log_text = result.stdout.partition("---")
    entries = [_json_object(line) for line in log_text.splitlines()]
    return OperationsState(
        ops.name,
        lock=_json_object(owner_text),
        recent=[entry for entry in entries if entry],
        pending=len(operations.pending(ops)),
    )


def _json_object(text: str) -> dict[str, Any] | None:
    """TEXT as a JSON object: None when blank, {} when it is not one."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def operation_lines(state: OperationsState) -> list[str]:
    """The status screen's lines for the lock, the last operation and entries left pending."""
    if state.lock is None:
        lock = "free"
    elif state.lock:
        lock = f"[yellow]{operations.describe(state.lock)}[/]"
    else:
        lock = "[yellow]held (its owner file is missing or unreadable)[/]"
    lines = [f"Platform lock ({state.host}): {lock}"]
    if state.recent:
        last = state.recent[-1]
        colour = "green" if last.get("outcome") == "ok" else "red"
        lines.append(
            f"Last operation: #{last.get('seq')} `{last.get('command')}` "
            f"[{colour}]{last.get('outcome')}[/] at {last.get('end')} by {last.get('operator')}"
            " (`deploy.py operations log`)"
        )
    else:
        lines.append("Last operation: none recorded")
    if state.pending:
        lines.append(
            f"[yellow]{state.pending} operations log entr{'y' if state.pending == 1 else 'ies'}"
            f" wait on this controller for {state.host}[/] (the next operation appends them)"
        )
    return lines


def collect(inv: Inventory) -> Report:
    """Every host, the firing alerts, the operation layer and the problems reaching them."""
    report = Report([HostStatus(h.name, h.groups) for h in inv.hosts.values()])
    statuses = {status.name: status for status in report.hosts}
    with session(inv, allow_unreachable=True) as sessions:
        report.problems += [f"{name}: unreachable over SSH" for name in sessions.unreachable]
        reachable = [h for h in inv.hosts.values() if h.name not in sessions.unreachable]
        for host in reachable:
            statuses[host.name].reachable = True
            _probe(sessions, host, statuses[host.name])
        monitoring = [h for h in inv.hosts_in("monitoring") if h in reachable]
        if monitoring:
            _read_alerts(report, sessions, monitoring[0])
        apps = [h for h in inv.hosts_in("app") if h in reachable]
        if apps:
            report.jobs = _jobs(report, sessions, apps[0])
        ops = inv.hosts_in(operations.LOCK_GROUP)[:1]  # the ops host
        if ops and ops[0] in reachable:
            report.operations = _operations(sessions, ops[0])
    return report


def _jobs(report: Report, sessions: Sessions, app: Host) -> dict[str, Any] | None:
    """The job queue's state, asked of the app on one app host (the queue is the platform's:
    any host says the same); None, and a problem said, when it does not answer."""
    result = sessions.run(app, manage_command("jobs status"), check=False)
    answer = _json_object(result.stdout)
    if not result.ok or not answer or not answer.get("ok"):
        said = (answer or {}).get("error") or (result.stderr.strip().splitlines() or ["?"])[-1]
        report.problems.append(f"{app.name}: the job queue's state cannot be read: {said}")
        return None
    return {key: value for key, value in answer.items() if key != "ok"}


def jobs_problem(jobs: dict[str, Any] | None) -> str | None:
    """What needs attention in the job queue: no live worker, or jobs stalled (their worker
    died and they are not back in the queue yet). Failed jobs are the alerts' (JobsFailed)."""
    if not jobs:
        return None
    if not jobs.get("workers"):
        return "no job worker alive (preau-worker.service on the app hosts)"
    if jobs.get("stalled_jobs"):
        return f"{jobs['stalled_jobs']} job(s) stalled: their worker stopped beating"
    return None


def jobs_line(jobs: dict[str, Any]) -> str:
    """The status screen's line for the job queue."""
    problem = jobs_problem(jobs)
    line = (
        f"Job queue: {jobs.get('todo', 0)} waiting (oldest due {jobs.get('oldest_todo_seconds', 0)}"
        f" s), {jobs.get('failed', 0)} failed, {jobs.get('workers', 0)} worker(s) alive"
    )
    return f"{line}; [red]{problem}[/]" if problem else line


def _read_alerts(report: Report, sessions: Sessions, monitoring: Host) -> None:
    """The firing alerts but the Watchdog, and whether the Watchdog fires (its silence is the
    problem: Prometheus, its rules or its way to Alertmanager stopped)."""
    answer = _alerts(sessions, monitoring)
    if answer is None:
        report.problems.append(f"{monitoring.name}: Alertmanager does not answer")
        return
    report.alerts = [a for a in answer if a.get("labels", {}).get("alertname") != WATCHDOG]
    report.watchdog = "firing" if len(report.alerts) < len(answer) else "not firing"
    if report.watchdog == "not firing":
        report.problems.append(
            f"{monitoring.name}: the Watchdog alert is not firing: Prometheus or its "
            "rules are not evaluating, or do not reach Alertmanager"
        )


def certificate_cell(days: float | None) -> tuple[str, bool]:
    """The status screen's cell for a host certificate's days left, and whether it needs
    attention: none, or fewer than internal_tls.EXPIRY_WARNING_DAYS (converge renews at 30)."""
    if days is None:
        return "[red]none[/]", True
    if days < internal_tls.EXPIRY_WARNING_DAYS:
        return f"[red]{math.floor(days)} d left[/]", True
    return f"{math.floor(days)} d", False


def needs_attention(report: Report) -> bool:
    """The exit code's question: a problem reaching things, a host unreachable, a service not
    active, a certificate missing or expiring, the app in maintenance, an alert firing, no job
    worker alive or jobs stalled."""
    return bool(report.problems or report.alerts or jobs_problem(report.jobs)) or any(
        not status.reachable
        or status.not_active
        or certificate_cell(status.cert_days)[1]
        or status.maintenance
        for status in report.hosts
    )


def show(inv: Inventory, console: Console) -> int:
    """Print the status screen; return 1 when something needs attention."""
    report = collect(inv)
    console.print(_table(inv, report.hosts))
    now = time.time()
    for status in report.hosts:
        for key, value in sorted(status.metrics.items()):
            if "last_success" in key and value > 0:
                console.print(f"{status.name}: {key} {(now - value) / 3600:.1f} h ago")
        if status.reboot_required:
            console.print(
                f"[yellow]{status.name}: waits for a reboot[/] (a kernel or library update)"
            )
    in_maintenance = [status.name for status in report.hosts if status.maintenance]
    if in_maintenance:
        console.print(
            f"[red]The app is in maintenance mode[/] (its page on {', '.join(in_maintenance)}): "
            "users get it; when no operation needs it any more (a failed `backup restore` "
            "leaves it on), `preau-manage maintenance off` on an app host ends it"
        )
    if report.alerts:
        console.print(f"[red]{len(report.alerts)} alert(s) firing:[/]")
        for alert in report.alerts:
            labels = alert.get("labels", {})
            console.print(
                f"  • {labels.get('severity', '?')}: {labels.get('alertname')} "
                f"{labels.get('instance', '')}"
            )
    else:
        console.print("[green]No alert firing.[/]")
    if report.jobs:
        console.print(jobs_line(report.jobs))
    for line in operation_lines(report.operations) if report.operations else []:
        console.print(line)
    for problem in report.problems:
        console.print(f"[red]{problem}[/]")
    return 1 if needs_attention(report) else 0


def _table(inv: Inventory, hosts: list[HostStatus]) -> Table:
    table = Table(title=f"Hosts of {inv.name}", title_justify="left")
    for column in ("host", "groups", "load", "disk", "services", "release", "certificate"):
        table.add_column(column, overflow="fold")
    for status in hosts:
        if not status.reachable:
            table.add_row(
                status.name, ", ".join(status.groups), "[red]unreachable[/]", "", "", "", ""
            )
            continue
        bad = status.not_active
        services = (
            "[green]all active[/]"
            if not bad
            else "[red]" + ", ".join(f"{n} {status.services[n]}" for n in bad) + "[/]"
        )
        table.add_row(
            status.name,
            ", ".join(status.groups),
            status.load,
            status.disk,
            services,
            status.release or ("—" if "app" not in status.groups else "[yellow]none[/]"),
            certificate_cell(status.cert_days)[0],
        )
    return table


# --------------------------------------------------------------------------- status --json


def document(inv: Inventory, report: Report, now: float | None = None) -> dict[str, Any]:
    """The status for machines (`status --json`): docs/contracts.md, "The CLI's JSON
    documents". Keys in English, numbers as numbers, times ISO 8601 UTC."""
    now = time.time() if now is None else now
    return {
        "inventory": inv.name,
        "generated_at": iso_utc(now),
        "attention": needs_attention(report),
        "hosts": [_host_document(status, now) for status in report.hosts],
        "alerts": [_alert_document(alert) for alert in report.alerts],
        "watchdog": report.watchdog,
        "operations": _operations_document(report.operations) if report.operations else None,
        "jobs": report.jobs,
        "problems": report.problems,
    }


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _host_document(status: HostStatus, now: float) -> dict[str, Any]:
    known = status.reachable
    return {
        "name": status.name,
        "groups": status.groups,
        "reachable": status.reachable,
        "load": _load(status.load) if known else None,
        "disk_used_percent": _percent(status.disk) if known else None,
        "services": status.services,
        "services_not_active": status.not_active,
        "release": status.release,
        "certificate_days_left": None if status.cert_days is None else round(status.cert_days, 1),
        "certificate_attention": certificate_cell(status.cert_days)[1] if known else None,
        "reboot_required": status.reboot_required,
        "maintenance": status.maintenance,
        "last_success": {
            key: {"at": iso_utc(value), "age_hours": round((now - value) / 3600, 1)}
            for key, value in sorted(status.metrics.items())
            if "last_success" in key and value > 0
        },
        "metrics": status.metrics,
    }


def _load(text: str) -> dict[str, float] | None:
    """/proc/loadavg's first three fields as {"1m", "5m", "15m"}; None when not read."""
    try:
        values = [float(field) for field in text.split()]
    except ValueError:
        return None
    return dict(zip(("1m", "5m", "15m"), values, strict=True)) if len(values) == 3 else None


def _percent(text: str) -> int | None:
    """df's "56%" as 56; None when not read."""
    digits = text.strip().removesuffix("%")
    return int(digits) if digits.isdigit() else None


def _alert_document(alert: dict[str, Any]) -> dict[str, Any]:
    labels = alert.get("labels") or {}
    return {
        "name": labels.get("alertname"),
        "severity": labels.get("severity"),
        "instance": labels.get("instance"),
        "summary": (alert.get("annotations") or {}).get("summary"),
        "starts_at": alert.get("startsAt"),
        "labels": labels,
    }


LOCK_KEYS = ("operator", "command", "since", "controller")
ENTRY_KEYS = (
    "seq", "command", "operator", "controller", "inventory", "revision", "start", "end",
    "seconds", "outcome", "detail", "backup", "within",
)  # fmt: skip


def _operations_document(state: OperationsState) -> dict[str, Any]:
    return {
        "ops_host": state.host,
        "lock": None if state.lock is None else {k: state.lock.get(k) for k in LOCK_KEYS},
        "last_operations": [{k: e.get(k) for k in ENTRY_KEYS} for e in state.recent],
        "pending_on_this_controller": state.pending,
    }
