"""`deploy.py bench`: the bundle's numbers, measured the same way each time, on the lab.

Each measure runs the real command against the running lab; the results go to BENCHMARKS.md
(machine, date, value, target) next to the previous run's values so regressions show.
Long load benchmarks of the app live with the app (app/scripts/benchmark_load.py).
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .paths import ROOT

RESULTS = ROOT / "BENCHMARKS.md"


@dataclass
class Measure:
    key: str
    title: str
    target: str
    command: list[str] | Callable[[Path], list[str]]  # or built (after any setup) in a temp dir
    env: dict | None = None
    ok_codes: tuple[int, ...] = (0,)
    parse: Callable[[str], str] | None = None  # the value from the output, instead of the time


def _uai(seed: int) -> str:
    """A valid UAI of the lab's département (82) that this run has not used yet."""
    from preau.core.uai import check_letter

    digits = f"082{seed % 10000:04d}"
    return digits + check_letter(digits)


def _add_command(tmp: Path, uai: str, students: int, name: str) -> list[str]:
    from preau.core.generator import generate

    files = [str(f) for f in generate(tmp / uai, students, uai=uai, name=name,
                                      town="Castelsarrasin")["files"]]
    return [*DEPLOY, "establishment", "add", uai, "--name", name, "--town", "Castelsarrasin",
            "--aaf", *files]


def _add_1000_users(tmp: Path) -> list[str]:
    # 320 students bring about 600 parents and their teachers: ~1,000 accounts
    return _add_command(tmp, _uai(int(time.time()) // 60), 320, "Collège du banc d'essai")


def _merge_2x600(tmp: Path) -> list[str]:
    seed = int(time.time()) // 60 + 5000
    source, target = _uai(seed), _uai(seed + 1)
    for uai, name in ((source, "Collège de la Garonne"), (target, "Collège du Tarn")):
        subprocess.run(_add_command(tmp, uai, 600, name), cwd=ROOT, check=True,
                       capture_output=True)
    return [*DEPLOY, "establishment", "merge", source, target, "--yes"]


def _new_release(tmp: Path) -> list[str]:
    """The app with a different content, hence a new version, shipped to every app host."""
    source = tmp / "app"
    shutil.copytree(ROOT / "app", source, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", "*.egg-info", "build", "artifacts"))
    (source / "src/preau/release_note.py").write_text(f'NOTE = "bench {time.time():.0f}"\n')
    return [*DEPLOY, "release", "--source", str(source)]


DEPLOY = [sys.executable, str(ROOT / "deploy.py")]


def _memory() -> tuple[str, str]:
    """(largest gunicorn RSS on the app hosts, sum of every lab process' RSS), in MB. The sum
    counts shared pages once per process: an upper bound of the lab's memory."""
    from .lab import hosts

    worker, total = 0.0, 0.0
    for host in hosts.planned(hosts.read_state()["topology"]):
        out = subprocess.run(["docker", "exec", host.container, "ps", "-eo", "rss=,comm="],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            rss, _, comm = line.strip().partition(" ")
            total += int(rss) / 1024
            if comm.startswith("gunicorn"):
                worker = max(worker, int(rss) / 1024)
    return (f"{worker:.0f}" if worker else "—"), f"{total:.0f}"


def _wrk(inv, path: str) -> list[str]:
    """wrk through the first load balancer, HTTPS, 32 connections for 15 s."""
    lb = inv.hosts_in("lb")[0]
    return ["wrk", "-t2", "-c32", "-d15s", "--latency", "-H",
            f"Host: {lb.vars.get('preau_domain', 'localhost')}", f"https://{lb.address}{path}"]


def _wrk_result(output: str) -> str:
    """'N req/s, p99 M ms, E errors' from wrk's report (errors: sockets + non-2xx/3xx)."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", output, re.M)
    if not rate or not p99:
        return "failed"
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    errors += int((re.search(r"Non-2xx or 3xx responses: (\d+)", output) or [0, 0])[1])
    return f"{float(rate.group(1)):.0f} req/s, p99 {float(p99.group(1)) * scale:.0f} ms, " \
           f"{errors} errors"


def measures(inv) -> list[Measure]:
    inv_hosts = len(inv.hosts)
    plain = {"ANSIBLE_PIPELINING": "False", "ANSIBLE_FORKS": "5", "ANSIBLE_STRATEGY": "linear",
             "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}
    playbook = [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                "inventories/lab/hosts.yml", "--vault-password-file", ".lab/vault-password",
                "playbooks/site.yml"]
    return [
        Measure("converge_noop", f"converge no-op re-run, {inv_hosts}-host lab (s)", "≤ 30",
                DEPLOY + ["converge"]),
        Measure("converge_noop_plain", "same no-op with plain ansible-playbook defaults "
                                       "(5 forks, no pipelining, no ControlPersist, linear) (s)",
                "reported", playbook, plain),
        Measure("release_noop", "release of the version already serving (s)", "reported",
                DEPLOY + ["release"]),
        Measure("release_new", "release of a new version over every app host, one at a time "
                               "(s; zero failed requests is asserted by the lab tests)", "≤ 60",
                _new_release),
        Measure("rollback", "rollback to the previous release (s)", "reported",
                DEPLOY + ["rollback"]),
        Measure("establishment_add", "establishment add from AAF files, ~1,000 accounts (s)",
                "≤ 15", _add_1000_users),
        Measure("establishment_merge", "merge of two establishments of 600 students, backup "
                                       "and verification included (s)", "≤ 60", _merge_2x600),
        Measure("backup_drill", "restore drill into a scratch cluster: RTO of the lab data "
                                "set (s)", "reported", DEPLOY + ["backup", "drill"]),
        Measure("audit", f"audit of the {inv_hosts}-host lab, admin account (s)", "≤ 60",
                DEPLOY + ["audit", "--report", "artifacts/bench-audit"], ok_codes=(0, 1)),
        Measure("lb_static", "nginx + TLS serving a static file (the waiting page's CSS): the "
                             "physical limit here", "reported", _wrk(inv, "/_preau/wait.css"),
                parse=_wrk_result),
        Measure("lb_app_page", "an app page (the activation form: Django, CSRF, templates; "
                               "the login form is rate-limited) through nginx + TLS to both app "
                               "hosts", "reported", _wrk(inv, "/activation/"), parse=_wrk_result),
        Measure("status", "status of every host (s; exit 1 = something needs attention)",
                "reported", DEPLOY + ["status"], ok_codes=(0, 1)),
    ]


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
            f"{platform.release()}, load average {load:.1f} at start")


def _previous() -> dict[str, str]:
    if not RESULTS.exists():
        return {}
    values = {}
    for line in RESULTS.read_text().splitlines():
        match = re.match(r"^\| `(\w+)` \|[^|]*\| ([^|]+) \|", line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def run(inv, console) -> int:
    previous = _previous()
    rows = []
    failed = False
    from . import system

    system.ensure(["wrk"], "the load measures of the bench")
    for measure in measures(inv):
        console.print(f"measuring {measure.key}…")
        env = dict(os.environ, **(measure.env or {}))
        with tempfile.TemporaryDirectory(prefix="preau-bench-") as tmp:
            command = measure.command
            if callable(command):
                try:
                    command = command(Path(tmp))
                except (subprocess.CalledProcessError, OSError) as error:
                    console.print(f"  setup failed: {error}")
                    command = ["false"]
            started = time.monotonic()
            result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            elapsed = time.monotonic() - started
        value = f"{elapsed:.1f}" if result.returncode in measure.ok_codes else "failed"
        if measure.parse and value != "failed":
            value = measure.parse(result.stdout)
        failed |= value == "failed"
        rows.append((measure, value, previous.get(measure.key, "—")))
        console.print(f"  {measure.title}: {value} (previous {previous.get(measure.key, '—')})")
    rates = {m.key: float(v.split()[0]) for m, v, _ in rows if m.parse and v != "failed"}
    if len(rates) == 2 and rates["lb_static"]:
        ratio = f"{rates['lb_app_page'] / rates['lb_static']:.2f}"
        rows.append((Measure("lb_app_vs_static", "app page rate / static file rate, same lb, "
                             "same run", "reported", []), ratio,
                     previous.get("lb_app_vs_static", "—")))
    worker, lab = _memory()
    rows.append((Measure("memory_worker", "largest app worker RSS (MB)", "≤ 150", []), worker,
                 previous.get("memory_worker", "—")))
    rows.append((Measure("memory_lab", "memory of the whole lab, every container (MB)", "≤ 4096",
                         []), lab, previous.get("memory_lab", "—")))
    console.print(f"  app worker RSS {worker} MB, whole lab {lab} MB")
    lines = [
        "# Benchmarks of the bundle",
        "",
        f"Measured by `./deploy.py bench` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"on {_machine()}.",
        "Each figure is wall-clock time of the real command against the running lab (or what "
        "wrk measured, for the lb_ rows: 32 connections, 15 s, from this machine); "
        "`previous` is the value of the run before this one.",
        "",
        "| measure | what | value | target | previous |",
        "|---|---|---|---|---|",
    ]
    for measure, value, before in rows:
        lines.append(f"| `{measure.key}` | {measure.title} | {value} | {measure.target} | "
                     f"{before} |")
    lines += ["", "App load benchmark: see app/BENCHMARKS.md.", ""]
    RESULTS.write_text("\n".join(lines))
    console.print(f"results written to {RESULTS.relative_to(ROOT)}")
    return 1 if failed else 0
