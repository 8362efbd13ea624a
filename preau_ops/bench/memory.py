"""The memory rows, read from the lab's containers once the run's last measure (status) has
left the lab as it stays: the largest app worker and the whole lab."""

from __future__ import annotations

import subprocess

from .core import Measure

ROWS = [
    Measure(
        "memory_worker",
        "largest app worker RSS (MB; beside it, since 2026-12-06, the largest worker's PSS "
        "and USS: its own memory, RSS counting in full what it shares with the master)",
        "≤ 100 under the mix (issue #26 item 6; ≤ 150 before)",
    ),
    Measure("memory_lab", "memory of the whole lab, every container (MB)", "≤ 4096"),
]


def measure() -> tuple[str, str]:
    """(largest gunicorn RSS on the app hosts, sum of every lab process' RSS), in MB. The sum
    counts shared pages once per process: an upper bound of the lab's memory."""
    from ..lab import hosts

    worker, total = 0.0, 0.0
    for host in hosts.planned((hosts.read_state() or {})["topology"]):
        out = subprocess.run(
            ["docker", "exec", host.container, "ps", "-eo", "rss=,comm="],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for line in out.splitlines():
            rss, _, comm = line.strip().partition(" ")
            total += int(rss) / 1024
            if comm.startswith("gunicorn"):
                worker = max(worker, int(rss) / 1024)
    return (f"{worker:.0f}" if worker else "—"), f"{total:.0f}"


# Each gunicorn process of an app host: a "== PID PPID" line, then its /proc/PID/smaps_rollup.
ROLLUPS = (
    'for p in $(pgrep -x gunicorn); do echo "== $p $(cut -d" " -f4 /proc/$p/stat)"; '
    "cat /proc/$p/smaps_rollup; done"
)


def rollup_figures(text: str) -> dict[str, float]:
    """RSS, PSS and USS (Private_Clean + Private_Dirty) in MB of one smaps_rollup's text (kB):
    the figures app/scripts/measure_memory.py prints for a worker."""
    kb: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and value.split() and value.split()[0].isdigit():
            kb[name.strip()] = int(value.split()[0])
    return {
        "rss_mb": kb.get("Rss", 0) / 1024,
        "pss_mb": kb.get("Pss", 0) / 1024,
        "uss_mb": (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024,
    }


def largest_worker(output: str) -> dict[str, float] | None:
    """From ROLLUPS' output: the largest PSS and USS of the workers (the gunicorn processes
    whose parent is a gunicorn process: the master left out), or None without a worker. RSS
    counts in full the pages a worker shares with its master (preload_app: the app's code and
    the URLconf); PSS divides them among the processes, USS leaves them out: what one more
    worker costs."""
    blocks: dict[int, tuple[int, str]] = {}
    for block in output.split("== ")[1:]:
        head, _, body = block.partition("\n")
        pid, ppid = (int(n) for n in head.split())
        blocks[pid] = (ppid, body)
    workers = [rollup_figures(body) for ppid, body in blocks.values() if ppid in blocks]
    if not workers:
        return None
    return {
        "pss_mb": max(w["pss_mb"] for w in workers),
        "uss_mb": max(w["uss_mb"] for w in workers),
    }


def worker_shares() -> str:
    """The largest PSS and USS of the app hosts' gunicorn workers ('PSS 52, USS 36' in MB, or
    '—'), read in the lab's containers: the worker's own memory beside memory_worker's RSS."""
    from ..lab import hosts

    found: list[dict[str, float]] = []
    for host in hosts.planned((hosts.read_state() or {})["topology"]):
        out = subprocess.run(
            ["docker", "exec", host.container, "sh", "-c", ROLLUPS],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if (worker := largest_worker(out)) is not None:
            found.append(worker)
    if not found:
        return "—"
    pss = max(w["pss_mb"] for w in found)
    uss = max(w["uss_mb"] for w in found)
    return f"PSS {pss:.0f}, USS {uss:.0f}"
