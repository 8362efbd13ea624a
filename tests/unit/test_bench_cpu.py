"""preau_ops.bench.cpu: where the CPU went during a load (lb_overload's breakdown). The remote
reads are replaced; the process-tree script runs here, on this machine's /proc."""

import subprocess
import sys
from types import SimpleNamespace

from preau_ops.bench import core, cpu

from .test_bench import inventory


def test_breakdown_names_each_part_and_the_rest():
    text = cpu.breakdown(40.0, 40.0, {"load generator": 10.0, "nginx": 6.0, "app hosts": 20.0})
    assert text == (
        "CPU of the machine 40.0 core-s busy of 40.0: load generator 10.0 (25 %), nginx 6.0 "
        "(15 %), app hosts 20.0 (50 %), the rest (SSH, Docker, the kernel) 4.0 (10 %)"
    )


def test_measured_counts_each_part_between_before_and_after(monkeypatch):
    reads = iter(["1.5", "2.0", "3.0", "4.0", "9.5", "4.0", "5.0", "14.0"])
    hosts, commands = [], []
    monkeypatch.setattr(
        core,
        "remote",
        lambda inv, host, command: (
            hosts.append(host.name)
            or commands.append(command)
            or SimpleNamespace(stdout=next(reads))
        ),
    )
    ticks = iter([(1000, 5000), (1500, 6000)])
    monkeypatch.setattr(core, "machine_ticks", lambda: next(ticks))
    result, text = cpu.measured(inventory(), lambda: "ran")
    assert result == "ran"
    groups = [g for _, g, _ in cpu.PARTS]
    inv = inventory()
    expected = [h.name for g in groups for h in inv.hosts_in(g)]
    assert hosts == expected * 2
    # the db host's PostgreSQL unit names its major version (the inventory's postgresql_version)
    assert commands[-1].endswith(" patroni.service postgresql@17-main.service")
    assert text.startswith("CPU of the machine ")
    assert " core-s busy of " in text and "load generator " in text and "PostgreSQL " in text


def test_the_tree_script_counts_a_units_processes_and_their_ended_children():
    """Run here on a process tree of our own: the script's /proc arithmetic (a unit name that
    does not exist gives MainPID 0 and counts nothing)."""
    script = cpu.TREE_SECONDS.replace(
        '["systemctl", "show", "-p", "MainPID", "--value", *sys.argv[1:]]',
        '["echo", *sys.argv[1:]]',
    )
    parent = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', 'sum(range(6 * 10**7))']);"
        " print('ended', flush=True); input()"
    )
    busy = subprocess.Popen(
        [sys.executable, "-c", parent], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert busy.stdout.readline().strip() == "ended"  # its CPU is now the parent's cutime
        out = subprocess.run(
            [sys.executable, "-c", script, str(busy.pid), "0"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert float(out.stdout) > 0.2, out
        nothing = subprocess.run(
            [sys.executable, "-c", script, "0"], capture_output=True, text=True, check=True
        )
        assert float(nothing.stdout) == 0.0
    finally:
        busy.communicate("\n", timeout=10)
