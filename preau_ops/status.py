"""`deploy.py status`: every host, service, release, backup and alert at a glance.

Read-only: a few `cat`/`systemctl is-active` per host over SSH (pyinfra, all hosts in
parallel), the backup metrics node_exporter publishes, and Alertmanager's API asked from the
monitoring host itself (so no firewall opening is needed for the operator).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .inventory import Inventory
from .release import CURRENT, pyinfra_state, shell

SERVICES = {
    "all": ["ssh", "nftables", "prometheus-node-exporter"],
    "db": ["postgresql@15-main", "prometheus-postgres-exporter"],
    "app": ["preau.socket", "preau.service"],
    "lb": ["nginx", "prometheus-nginx-exporter"],
    "backup": [],
    "monitoring": ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"],
}
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


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


def _services_for(groups: list[str]) -> list[str]:
    names = list(SERVICES["all"])
    for group in groups:
        names += [s for s in SERVICES.get(group, []) if s not in names]
    return names


def collect(inv: Inventory) -> tuple[list[HostStatus], list[dict], list[str]]:
    """(hosts, firing alerts, problems reaching things)."""
    statuses = {h.name: HostStatus(h.name, h.groups) for h in inv.hosts.values()}
    problems: list[str] = []
    alerts: list[dict] = []
    with pyinfra_state(inv, allow_unreachable=True) as state:
        problems += [f"{name}: unreachable over SSH" for name in state.unreachable]
        reachable = [h for h in inv.hosts.values() if h.name not in state.unreachable]
        for host in reachable:
            status = statuses[host.name]
            status.reachable = True
            services = _services_for(host.groups)
            script = (f"cut -d' ' -f1-3 /proc/loadavg; df --output=pcent / | tail -1; "
                      f"systemctl is-active {' '.join(services)}; "
                      f"echo ---; readlink {CURRENT} || true; echo ---; "
                      f"cat {TEXTFILE_DIR}/preau_*.prom 2>/dev/null | grep -v '^#' || true")
            _, out = shell(state, host.name, script, check=False, stdout_only=True)
            head, _, rest = out.partition("---")
            release, _, metrics = rest.partition("---")
            lines = head.strip().splitlines()
            if len(lines) >= 2:
                status.load, status.disk = lines[0], lines[1].strip()
                status.services = dict(zip(services, lines[2:]))
            status.release = release.strip().rsplit("/", 1)[-1] or None
            for line in metrics.splitlines():
                match = re.match(r"^(\w+)(\{[^}]*\})?\s+([-0-9.e+]+)$", line.strip())
                if match:
                    status.metrics[match.group(1) + (match.group(2) or "")] = float(match.group(3))
        monitoring = [h for h in inv.hosts_in("monitoring") if h in reachable]
        if monitoring:
            ok, out = shell(state, monitoring[0].name,
                            "curl -sf http://127.0.0.1:9093/api/v2/alerts?active=true",
                            check=False, stdout_only=True)
            try:
                alerts = json.loads(out) if ok else []
            except ValueError:
                alerts = []
            if not ok:
                problems.append(f"{monitoring[0].name}: Alertmanager does not answer")
    return list(statuses.values()), alerts, problems


def show(inv: Inventory, console) -> int:
    """Print the status screen; return 1 when something needs attention."""
    import time

    from rich.table import Table

    hosts, alerts, problems = collect(inv)
    table = Table(title=f"Hosts of {inv.name}", title_justify="left")
    for column in ("host", "groups", "load", "disk", "services", "release"):
        table.add_column(column, overflow="fold")
    attention = bool(problems)
    for status in hosts:
        if not status.reachable:
            table.add_row(status.name, ", ".join(status.groups), "[red]unreachable[/]",
                          "", "", "")
            attention = True
            continue
        bad = [name for name, state in status.services.items() if state != "active"]
        attention |= bool(bad)
        services = ("[green]all active[/]" if not bad else
                    "[red]" + ", ".join(f"{n} {status.services[n]}" for n in bad) + "[/]")
        table.add_row(status.name, ", ".join(status.groups), status.load, status.disk,
                      services, status.release or ("—" if "app" not in status.groups
                                                   else "[yellow]none[/]"))
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
            console.print(f"  • {labels.get('severity', '?')}: {labels.get('alertname')} "
                          f"{labels.get('instance', '')}")
        attention = True
    else:
        console.print("[green]No alert firing.[/]")
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    return 1 if attention else 0
