"""The memory rows, read from the lab's containers once the run's last measure (status) has
left the lab as it stays: the largest app worker and the whole lab."""

from __future__ import annotations

import subprocess

from .core import Measure

ROWS = [
    Measure("memory_worker", "largest app worker RSS (MB)", "≤ 150"),
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
