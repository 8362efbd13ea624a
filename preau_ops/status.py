"""`deploy.py status`: every host, service, release, backup and alert at a glance.

Read-only: a few `cat`/`systemctl is-active` per host over SSH (the runner's sessions, all
hosts in parallel), the backup metrics node_exporter publishes, the end date of each host's
certificate of the internal PKI (`internal_tls`), and Alertmanager's API asked
from the monitoring host itself (so no firewall opening is needed for the operator). The
services shown for a host are the platform map's (preau_ops.platform.services).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from . import internal_tls, operations, platform
from .inventory import Host, Inventory
from .release import CURRENT
from .runner import Sessions, session

TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
ALERTS_URL = "http://127.0.0.1:9093/api/v2/alerts?active=true"
WATCHDOG = "Watchdog"  # always firing (monitoring/rules/meta.yml): its absence is the problem
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


def _probe(sessions: Sessions, host: Host, status: HostStatus) -> None:
    """Load, disk, the map's services, the release served and the preau_* metrics of a host."""
    services = platform.services(host.groups)
    script = (
        f"cut -d' ' -f1-3 /proc/loadavg; df --output=pcent / | tail -1; "
        f"systemctl is-active {' '.join(services)}; "
        f"echo ---; readlink {CURRENT} || true; echo ---; "
        f"cat {TEXTFILE_DIR}/preau_*.prom 2>/dev/null | grep -v '^#' || true; "
        f"echo ---; {internal_tls.ENDDATE_COMMAND}"
    )
    out = sessions.run(host, script, check=False).stdout
    head, _, rest = out.partition("---")
    release, _, rest = rest.partition("---")
    metrics, _, enddate = rest.partition("---")
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


def _alerts(sessions: Sessions, monitoring: Host) -> list[dict[str, Any]] | None:
    """Alertmanager's firing alerts, asked on the monitoring host; None when it does not answer."""
    result = sessions.run(monitoring, f"curl -sf {ALERTS_URL}", check=False)
    if not result.ok:
        return None
    try:
        alerts = json.loads(result.stdout)
    except ValueError:
        return []
    return alerts if isinstance(alerts, list) else []


def _operations(sessions: Sessions, ops: Host) -> list[str]:
    """The platform lock's holder and the last entry of the operations log, as lines."""
    result = sessions.run(
        ops,
        f"cat {operations.LOCK_DIR}/owner.json 2>/dev/null; echo; echo ---; "
        f"tail -n 1 {operations.REMOTE_LOG} 2>/dev/null",
        check=False,
    )
    owner_text, _, last_text = result.stdout.partition("---")
    lines = []
    try:
        owner = json.loads(owner_text) if owner_text.strip() else None
        lock = "free" if owner is None else f"[yellow]{operations.describe(owner)}[/]"
    except ValueError:
        lock = "[yellow]held (its owner file is unreadable)[/]"
    lines.append(f"Platform lock ({ops.name}): {lock}")
    try:
        last = json.loads(last_text) if last_text.strip() else None
    except ValueError:
        last = None
    if last:
        colour = "green" if last.get("outcome") == "ok" else "red"
        lines.append(
            f"Last operation: #{last.get('seq')} `{last.get('command')}` "
            f"[{colour}]{last.get('outcome')}[/] at {last.get('end')} by {last.get('operator')}"
            " (`deploy.py operations log`)"
        )
    else:
        lines.append("Last operation: none recorded")
    return lines


def collect(
    inv: Inventory,
) -> tuple[list[HostStatus], list[dict[str, Any]], list[str], list[str]]:
    """(hosts, firing alerts, problems reaching things, the operation layer's lines)."""
    statuses = {h.name: HostStatus(h.name, h.groups) for h in inv.hosts.values()}
    problems: list[str] = []
    alerts: list[dict[str, Any]] = []
    with session(inv, allow_unreachable=True) as sessions:
        problems += [f"{name}: unreachable over SSH" for name in sessions.unreachable]
        reachable = [h for h in inv.hosts.values() if h.name not in sessions.unreachable]
        for host in reachable:
            statuses[host.name].reachable = True
            _probe(sessions, host, statuses[host.name])
        monitoring = [h for h in inv.hosts_in("monitoring") if h in reachable]
        if monitoring:
            answer = _alerts(sessions, monitoring[0])
            if answer is None:
                problems.append(f"{monitoring[0].name}: Alertmanager does not answer")
            alerts = [a for a in answer or [] if a.get("labels", {}).get("alertname") != WATCHDOG]
            if answer is not None and len(alerts) == len(answer):
                problems.append(
                    f"{monitoring[0].name}: the Watchdog alert is not firing: Prometheus or its "
                    "rules are not evaluating, or do not reach Alertmanager"
                )
        ops = inv.hosts_in(operations.LOCK_GROUP)[:1]  # the ops host
        ops_lines = _operations(sessions, ops[0]) if ops and ops[0] in reachable else []
    return list(statuses.values()), alerts, problems, ops_lines


def certificate_cell(days: float | None) -> tuple[str, bool]:
    """The status screen's cell for a host certificate's days left, and whether it needs
    attention: none, or fewer than internal_tls.EXPIRY_WARNING_DAYS (converge renews at 30)."""
    if days is None:
        return "[red]none[/]", True
    if days < internal_tls.EXPIRY_WARNING_DAYS:
        return f"[red]{math.floor(days)} d left[/]", True
    return f"{math.floor(days)} d", False


def show(inv: Inventory, console: Console) -> int:
    """Print the status screen; return 1 when something needs attention."""
    import time

    from rich.table import Table

    hosts, alerts, problems, ops_lines = collect(inv)
    table = Table(title=f"Hosts of {inv.name}", title_justify="left")
    for column in ("host", "groups", "load", "disk", "services", "release", "certificate"):
        table.add_column(column, overflow="fold")
    attention = bool(problems)
    for status in hosts:
        if not status.reachable:
            table.add_row(
                status.name, ", ".join(status.groups), "[red]unreachable[/]", "", "", "", ""
            )
            attention = True
            continue
        bad = [name for name, state in status.services.items() if state != "active"]
        certificate, expiring = certificate_cell(status.cert_days)
        attention |= bool(bad) or expiring
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
            certificate,
        )
    console.print(table)
    now = time.time()
    for status in hosts:
        for key, value in sorted(status.metrics.items()):
            if "last_success" in key and value > 0:
                console.print(f"{status.name}: {key} {(now - value) / 3600:.1f} h ago")
    if alerts:
        console.print(f"[red]{len(alerts)} alert(s) firing:[/]")
        for alert in alerts:
            labels = alert.get("labels", {})
            console.print(
                f"  • {labels.get('severity', '?')}: {labels.get('alertname')} "
                f"{labels.get('instance', '')}"
            )
        attention = True
    else:
        console.print("[green]No alert firing.[/]")
    for line in ops_lines:
        console.print(line)
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    return 1 if attention else 0
