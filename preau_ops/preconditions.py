"""Preconditions shared by the commands that change servers: refuse early, say why."""

from __future__ import annotations

from .inventory import Host

# `/` and the app's data (uploads, releases) when it has its own filesystem.
DISK_COMMAND = "df --output=pcent,target / /srv/preau 2>/dev/null | tail -n +2 || true"
DISK_FULL_PERCENT = 90  # default of preau_disk_full_percent


def disk_problem(host: Host, df_output: str) -> str | None:
    """'<host>: / is 93 % full (limit 90 %)' when a filesystem of DISK_COMMAND's output is at
    or above the host's preau_disk_full_percent, else None."""
    limit = int(host.vars.get("preau_disk_full_percent", DISK_FULL_PERCENT))
    full = []
    for line in df_output.splitlines():
        used, _, target = line.strip().partition(" ")
        if used.rstrip("%").isdigit() and int(used.rstrip("%")) >= limit:
            entry = f"{target.strip()} is {used.rstrip('%')} % full"
            if entry not in full:
                full.append(entry)
    return f"{host.name}: " + ", ".join(full) + f" (limit {limit} %)" if full else None
