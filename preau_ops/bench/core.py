"""`deploy.py bench`: the bundle's numbers, measured the same way each time, on the lab.

Each measure runs the real command (or load) against the running lab; the results go to
BENCHMARKS.md (machine, date, value, target) next to the previous run's values so regressions
show. The order matters: the benchmark data set (20 establishments x 600 students, `preau-manage
seed_bench`, seeded once per lab) comes first, so that the restore drill, the audit and the load
measures all run on it.

The load measures go through the load balancer over TLS with wrk: a static file, an app page,
then the app's realistic logged-in mix (app/scripts/load_mix.lua over sessions opened on an app
host by app/scripts/bench_sessions.py, the same code as the app's own load benchmark), then the
same mix beyond capacity: twice the rate lb_mix served, offered at a steady pace (waiting pages,
other 5xx, recovery). The RPO is the time from a commit right after a WAL segment switch until
that segment is in the pgBackRest repository.

`up` from nothing destroys and rebuilds the lab: only with --from-nothing (and --uncached to
remove the lab images first), never in the default run.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .paths import ROOT

RESULTS = ROOT / "BENCHMARKS.md"
DEPLOY = [sys.executable, str(ROOT / "deploy.py")]
SCRIPTS = ROOT / "app" / "scripts"
LOAD_MIX = SCRIPTS / "load_mix.lua"
SESSIONS_SCRIPT = SCRIPTS / "bench_sessions.py"

# The load benchmark's data set (as app/scripts/benchmark_load.py): `seed_bench` names its
# establishments 0825000… (bench_uai), which is how a lab that already holds it is recognised.
BENCH_ESTABLISHMENTS = 20
BENCH_STUDENTS = 600
BENCH_UAI_PREFIX = "0825"

# wrk runs: the same every time (the rows of BENCHMARKS.md are compared run to run).
WRK_CONNECTIONS, WRK_SECONDS = 32, 15          # lb_static, lb_app_page
MIX_WARMUP_CONNECTIONS, MIX_WARMUP_SECONDS = 8, 10
MIX_CONNECTIONS, MIX_SECONDS = 16, 30          # lb_mix (closed loop: unpaced)
MIX_THREADS = 2                                # wrk -t of lb_mix and lb_overload
# lb_overload: an offered rate of twice the sustainable one (what lb_mix served, same run), paced
# by load_mix.lua (PREAU_PACE_MS): users shown the waiting page (Retry-After, no automatic
# refresh) do not retry in a tight loop, so a 503 waits its turn like any answer; a closed loop
# would instead send ~10,000 waiting pages/s that take the app hosts' CPU on this machine (an
# attack, not twice the users). Enough connections that the rate holds even if every request
# took twice the app's queueing limit (PREAU_MAX_QUEUE_SECONDS, 1 s), at least lb_mix's.
OVERLOAD_RATE_FACTOR, OVERLOAD_SECONDS, SHED_QUEUE_SECONDS = 2, 20, 1.0
RECOVERY_LIMIT_SECONDS = 60                    # lb_overload: give up waiting for a 200 after
# Each measure, and each load again after its own preparations, starts once the machine is
# quiet: at most QUIET_BUSY of its CPU busy over QUIET_SECONDS (an earlier measure's aftermath,
# autovacuum after seeding or a merge, a backup's compression, would otherwise count against
# it), waiting QUIET_LIMIT_SECONDS at most (other tenants).
QUIET_BUSY, QUIET_SECONDS, QUIET_LIMIT_SECONDS = 0.10, 2, 90
RPO_LIMIT_SECONDS = 300                        # rpo: give up waiting for the archived segment

NOT_MEASURED = "not measured"


@dataclass
class Measure:
    key: str
    title: str
    target: str
    # What is timed: a command (or one built in a temp dir, after any untimed setup) ...
    command: list[str] | Callable[[Path], list[str]] | None = None
    env: dict | None = None
    ok_codes: tuple[int, ...] = (0,)
    parse: Callable[[str], str] | None = None  # the value from the output, instead of the time
    # ... or a measure made here, in Python, that returns the value (load, RPO).
    probe: Callable[[Bench], str] | None = None
    opt_in: str | None = None  # only when this option is given (it changes the lab)
    needs: tuple[str, ...] = ()  # measures that must run before it in the same run (--only)


@dataclass
class Bench:
    """What the measures of one run share: inventory, temp dir, intermediate results."""
    inv: object
    tmp: Path
    status: Callable[[str], None] = lambda text: None
    sessions: Path | None = None
    results: dict = field(default_factory=dict)


# ------------------------------------------------------------------ commands that are timed

def _uai(seed: int) -> str:
    """A valid UAI of the lab's département (82) that this run has not used yet: 0821000 to
    0824999, clear of the demo establishments (08200xx) and of seed_bench's (0825xxx)."""
    from preau.core.uai import check_letter

    digits = f"082{1000 + seed % 4000:04d}"
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
    seed = int(time.time()) // 60 + 2000
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


def _release_noop(tmp: Path) -> list[str]:
    """The app of this tree shipped first (not timed, a no-op when it serves already): the
    timed release then finds the version already serving."""
    subprocess.run([*DEPLOY, "release"], cwd=ROOT, check=True, capture_output=True)
    return [*DEPLOY, "release"]


def _drill_after_backup(tmp: Path) -> list[str]:
    """A full backup first (not timed): the drill then restores the benchmark data set."""
    subprocess.run([*DEPLOY, "backup", "now", "--kind", "full"], cwd=ROOT, check=True,
                   capture_output=True)
    return [*DEPLOY, "backup", "drill"]


def _lab_topology() -> str:
    from .lab import hosts
    return (hosts.read_state() or {}).get("topology", "scaled")


def _remove_lab_images() -> None:
    """Delete the lab's host images (a daemon is started for it if needed, and stopped again
    when the lab started it): the next `up` builds them from Debian's packages."""
    from .lab import engine, image

    engine.ensure()
    for tag in ("baked", "bare"):
        subprocess.run(["docker", "image", "rm", "--force", f"{image.REPOSITORY}:{tag}"],
                       capture_output=True)
    engine.stop_if_ours()


def _from_nothing(uncached: bool) -> Callable[[Path], list[str]]:
    """`down` (and the images removed when uncached), not timed; then `up` is timed, on the
    topology the lab had."""
    def setup(tmp: Path) -> list[str]:
        topology = _lab_topology()
        subprocess.run([*DEPLOY, "down"], cwd=ROOT, check=True, capture_output=True)
        if uncached:
            _remove_lab_images()
        return [*DEPLOY, "up", "--topology", topology]
    return setup


# ------------------------------------------------------------------------ remote commands

def _remote(host, command: str, sudo: bool = True):
    """One command on an inventory host over SSH (as root by default); its result."""
    from .procedures import connect, run

    with connect(host) as connection:
        return run(connection, command, host, sudo=sudo)


# ------------------------------------------------------------------- benchmark data set

def _bench_data(bench: Bench) -> str:
    """Seed the benchmark data set unless the lab holds it already; the seeding time (s), or
    'present', with the database size."""
    from .procedures import connect, manage
    from .procedures.establishments import listing

    present = [e for e in listing(bench.inv) if e["uai"].startswith(BENCH_UAI_PREFIX)]
    value = f"present ({len(present)} establishments)"
    if len(present) < BENCH_ESTABLISHMENTS:
        bench.status(f"seeding {BENCH_ESTABLISHMENTS} establishments × {BENCH_STUDENTS} "
                     "students (a few minutes)")
        host = bench.inv.hosts_in("app")[0]
        started = time.monotonic()
        with connect(host) as connection:
            answer = manage(connection, host, f"seed_bench --establishments "
                                              f"{BENCH_ESTABLISHMENTS} --students {BENCH_STUDENTS}")
        value = f"{time.monotonic() - started:.1f} ({answer['users']} accounts)"
    db = bench.inv.hosts_in("db")[0]
    size = _remote(db, "sudo -u postgres psql -XAtc \"select pg_database_size('preau')\"")
    return f"{value}, database {int(size.stdout.strip()) / 2 ** 20:.0f} MB"


# --------------------------------------------------------------------------------- wrk

def _lb(inv) -> tuple[str, str]:
    """(address, public name) of the first load balancer."""
    lb = inv.hosts_in("lb")[0]
    return lb.address, str(lb.vars.get("preau_domain", "localhost"))


def _wrk(inv, path: str) -> list[str]:
    """wrk through the first load balancer, HTTPS, 32 connections for 15 s."""
    address, domain = _lb(inv)
    return ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "--latency", "-H",
            f"Host: {domain}", f"https://{address}{path}"]


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


def _open_sessions(bench: Bench) -> Path:
    """The sessions file of the mix, opened on the first app host by app/scripts/
    bench_sessions.py with the release's Python (as the app's user, against the platform's
    database); once per run."""
    if bench.sessions:
        return bench.sessions
    from .procedures import connect, run
    from .release import CURRENT

    bench.status("opening sessions on an app host")
    host = bench.inv.hosts_in("app")[0]
    with connect(host) as connection:
        remote = run(connection, "mktemp -d /tmp/preau-bench.XXXXXX", host,
                     sudo=False).stdout.strip()
        try:
            connection.put(str(SESSIONS_SCRIPT), f"{remote}/bench_sessions.py")
            run(connection, f"chmod 755 {remote}", host, sudo=False)
            result = run(connection, "cd /tmp && sudo -u preau env PREAU_METRICS_MULTIPROC_DIR= "
                                     "DJANGO_SETTINGS_MODULE=preau.settings "
                                     f"{CURRENT}/venv/bin/python {remote}/bench_sessions.py -",
                         host)
        finally:
            run(connection, f"rm -rf {remote}", host, sudo=False, check=False)
    bench.sessions = bench.tmp / "sessions.tsv"
    bench.sessions.write_text(result.stdout)
    bench.results["sessions"] = json.loads(result.stderr.strip().splitlines()[-1])
    return bench.sessions


def _mix_command(inv, sessions: Path, connections: int, seconds: int) -> list[str]:
    """wrk with the app's realistic mix, through the first lb over TLS (Host = public name)."""
    address, domain = _lb(inv)
    return ["wrk", f"-t{MIX_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-H", f"Host: {domain}", "-s", str(LOAD_MIX), f"https://{address}",
            "--", str(sessions)]


def _pace_ms(rate: float, threads: int = MIX_THREADS) -> float:
    """load_mix.lua's PREAU_PACE_MS for an offered `rate` (req/s, whole run): each of wrk's
    threads starts a request every threads x 1000 / rate ms."""
    if not rate > 0:
        raise ValueError(f"no pace for an offered rate of {rate} req/s")
    return 1000 * threads / rate


def _offered(pace_ms: float, threads: int = MIX_THREADS) -> float:
    """The rate (req/s) that `threads` threads paced at `pace_ms` offer: _pace_ms's inverse."""
    return 1000 * threads / pace_ms


def _mix_env(pace_ms: float | None, base: dict | None = None) -> dict:
    """wrk's environment: PREAU_PACE_MS when paced, never inherited when not (lb_mix stays a
    closed loop)."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k != "PREAU_PACE_MS"}
    if pace_ms is not None:
        env["PREAU_PACE_MS"] = f"{pace_ms:.3f}"
    return env


def _mix_output(output: str) -> dict | None:
    """The PREAU_RESULT line that load_mix.lua prints, decoded (None when absent)."""
    match = re.search(r"^PREAU_RESULT (.*)$", output, re.M)
    return json.loads(match.group(1)) if match else None


def _statuses(result: dict) -> dict[int, int]:
    return {int(status): count for status, count in result["statuses"].items()}


def _socket_errors(result: dict) -> int:
    return sum(n for kind, n in result["errors"].items() if kind != "status")


def _socket_errors_text(result: dict) -> str:
    """'N socket errors' with their kinds as wrk counts them (connect, read, write, timeout:
    no answer within wrk's 2 s)."""
    total = _socket_errors(result)
    kinds = ", ".join(f"{kind} {n}" for kind, n in result["errors"].items() if kind != "status" and n)
    return f"{total} socket errors" + (f" ({kinds})" if total else "")


def _served(result: dict) -> float:
    """Answers per second that were pages (2xx/3xx), not waiting pages or errors."""
    return sum(n for s, n in _statuses(result).items() if 200 <= s < 400) / result["duration_s"]


def _mix_summary(result: dict) -> str:
    """lb_mix's value: pages served per second (a fast 503 is no throughput), latency of every
    answer, errors: socket errors and every status >= 400 but 429, which only the login
    locations answer (the lb's per-address login rate limit: all of wrk's logins come from one
    address), counted apart."""
    statuses = _statuses(result)
    refused = statuses.get(429, 0)
    bad = {s: n for s, n in sorted(statuses.items()) if s >= 400 and s != 429}
    errors = _socket_errors(result) + sum(bad.values())
    detail = ", ".join([f"{n} × {s}" for s, n in bad.items()]
                       + ([f"{_socket_errors(result)} socket"] if _socket_errors(result) else []))
    logins = f", {refused} logins refused by the lb's rate limit (one client address)" \
        if refused else ""
    return (f"{_served(result):.0f} req/s served (2xx/3xx), p95 {result['p95_ms']:.0f} ms, p99 "
            f"{result['p99_ms']:.0f} ms, {errors} errors" + (f" ({detail})" if detail else "")
            + logins)


def _run_mix(bench: Bench, connections: int, seconds: int, pace_ms: float | None = None) -> dict:
    command = _mix_command(bench.inv, _open_sessions(bench), connections, seconds)
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120,
                            env=_mix_env(pace_ms))
    result = _mix_output(output.stdout)
    if output.returncode or result is None:
        raise RuntimeError(f"wrk failed: {(output.stderr or output.stdout)[-500:]}")
    _check_pace(result, pace_ms)
    return result


def _check_pace(result: dict, pace_ms: float | None) -> None:
    """The script ran at the pace asked (or unpaced), as its PREAU_RESULT line says."""
    ran = result.get("pace_ms") or 0
    if abs(ran - (pace_ms or 0)) > 0.001:
        raise RuntimeError(f"load_mix.lua ran at a pace of {ran} ms, not {pace_ms or 0} ms")


def _settle(bench: Bench) -> None:
    """Before a load: a dashboard answers 200, then no app host is still marked failed by the
    lb (its upstream fail_timeout), so that one run does not start in the previous one's
    wake."""
    bench.status("waiting for the lb and the app hosts to be back to normal")
    if _recovery(bench) is None:
        raise RuntimeError(f"no dashboard answered 200 within {RECOVERY_LIMIT_SECONDS} s")
    lb = bench.inv.hosts_in("lb")[0]
    timeout = str(lb.vars.get("nginx_upstream_fail_timeout", "10s"))
    time.sleep(float(timeout.rstrip("s")) if re.fullmatch(r"\d+(\.\d+)?s?", timeout) else 10)
    bench.results["busy_before"] = _wait_quiet(bench)


def _cpu_busy(seconds: float) -> float:
    """The share of the machine's CPU time that was busy over the next `seconds` (/proc/stat)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy

    busy, total = sample()
    time.sleep(seconds)
    busy_after, total_after = sample()
    return (busy_after - busy) / max(total_after - total, 1)


def _wait_quiet(bench: Bench) -> float:
    """Wait until the machine is quiet (QUIET_BUSY); its busy share then, or when the wait gave
    up after QUIET_LIMIT_SECONDS."""
    deadline = time.monotonic() + QUIET_LIMIT_SECONDS
    while True:
        busy = _cpu_busy(QUIET_SECONDS)
        if busy <= QUIET_BUSY or time.monotonic() >= deadline:
            return busy
        bench.status(f"waiting for the machine to be quiet: {busy:.0%} of its CPU busy")


def _lb_mix(bench: Bench) -> str:
    sessions = _open_sessions(bench)
    _settle(bench)
    bench.status(f"warm-up, {MIX_WARMUP_SECONDS} s")
    _run_mix(bench, MIX_WARMUP_CONNECTIONS, MIX_WARMUP_SECONDS)
    bench.status(f"{MIX_CONNECTIONS} connections for {MIX_SECONDS} s over "
                 f"{len(sessions.read_text().splitlines())} sessions")
    result = _run_mix(bench, MIX_CONNECTIONS, MIX_SECONDS)
    bench.results["lb_mix"] = result
    return _mix_summary(result) + f", machine {bench.results['busy_before']:.0%} busy before the warm-up"


# ------------------------------------------------------------------------------ overload

# The 503s of the lb's access log (role nginx, log_format preau: the status is the 9th field, then
# rt= and upstream=: an address when an app host answered ("app"), the upstream's name when the
# lb found no app host in rotation ("none"), - when the request never reached the proxy: the
# lb's limit of requests in flight, limit_conn ("limit")), counted on the lb by request time and
# origin: an overload can log some 100,000 lines, too many to bring back.
COUNT_503 = ('$9 == 503 { rt = "?"; origin = "none"; '
             'for (i = 10; i <= NF; i++) { if ($i ~ /^rt=/) rt = substr($i, 4); '
             'if ($i == "upstream=-") origin = "limit"; '
             'else if ($i ~ /^upstream=/ && $i ~ /:/) origin = "app" } '
             'n[rt " " origin]++ } END { for (k in n) print k, n[k] }')
ORIGINS = {"limit": "the lb's limit of requests in flight", "none": "the lb with no app host "
           "in rotation", "app": "the app"}


def _lb_log_since(inv, offset: int | None) -> tuple[int, str]:
    """The lb's access log: its size now (offset None), or COUNT_503 over what was written
    since `offset`."""
    lb = inv.hosts_in("lb")[0]
    log = "/var/log/nginx/access.log"
    if offset is None:
        return int(_remote(lb, f"stat -c %s {log}").stdout.strip()), ""
    return offset, _remote(lb, f"tail -c +{offset + 1} {log} | awk {shlex.quote(COUNT_503)}").stdout


def _counted_503s(output: str) -> list[tuple[float, str, int]]:
    """COUNT_503's lines as (request time in ms, origin: a key of ORIGINS, count)."""
    counted = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(r"[\d.]+", parts[0]) and parts[1] in ORIGINS \
                and parts[2].isdigit():
            counted.append((float(parts[0]) * 1000, parts[1], int(parts[2])))
    return counted


def _percentile(counted: list[tuple[float, int]], share: float) -> float | None:
    """Nearest-rank percentile (share in 0..1) of values given with their counts; None for
    no value."""
    total = sum(n for _, n in counted)
    if not total:
        return None
    rank, seen = max(1, math.ceil(share * total)), 0
    for value, n in sorted(counted):
        seen += n
        if seen >= rank:
            return value
    return None


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 1 ms" if value < 1 else f"{value:.0f} ms"


def _overload_summary(result: dict, counted_503s: str, recovery: float | None) -> str:
    """lb_overload's value: waiting pages (503, the lb's or the app's) among the answers, the
    p99 of their time at the lb, other 5xx, socket errors, and the time to a 200 afterwards."""
    statuses = _statuses(result)
    answered = sum(statuses.values())
    waiting = statuses.get(503, 0)
    served = _served(result)
    other_5xx = sum(n for s, n in statuses.items() if 500 <= s <= 599 and s != 503)
    logged = _counted_503s(counted_503s)
    total = sum(n for _, _, n in logged)
    by = {key: sum(n for _, o, n in logged if o == key) for key in ORIGINS}
    p99 = _percentile([(ms, n) for ms, _, n in logged], 0.99)
    share = f"{100 * waiting / answered:.0f} %" if answered else "no answer"
    origin = " (answered by " + ", ".join(f"{text} {100 * by[key] / total:.0f} %"
                                          for key, text in ORIGINS.items()) + ")" if total else ""
    return (f"{served:.0f} req/s served (2xx/3xx) of {result['rps']:.0f} answers/s (p95 "
            f"{result['p95_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, every answer), {share} "
            f"waiting page (503){origin}, p99 of the 503s "
            f"{_ms(p99)} at the lb, {other_5xx} other 5xx, "
            f"{_socket_errors_text(result)}, "
            + (f"200 again after {recovery:.1f} s" if recovery is not None
               else f"no 200 within {RECOVERY_LIMIT_SECONDS} s"))


def _normal_page(bench: Bench) -> tuple[str, str]:
    """(dashboard URL, session cookie) of the first session of the mix."""
    cookie, _, *urls = bench.sessions.read_text().splitlines()[0].split("\t")
    return urls[0], cookie


def _get(inv, path: str, cookie: str, timeout: float = 10) -> int:
    """Status of one GET through the first lb over TLS (Host and SNI = the public name)."""
    address, domain = _lb(inv)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection(address, 443, timeout=timeout, context=context)
    connection.sock = context.wrap_socket(socket.create_connection((address, 443), timeout),
                                          server_hostname=domain)
    try:
        connection.request("GET", path, headers={"Host": domain, "Cookie": f"sessionid={cookie}"})
        return connection.getresponse().status
    finally:
        connection.close()


def _recovery(bench: Bench) -> float | None:
    """Seconds from the end of the load until a normal page (a dashboard) answers 200."""
    path, cookie = _normal_page(bench)
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_LIMIT_SECONDS:
        try:
            if _get(bench.inv, path, cookie) == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.2)
    return None


def _served_rate(value: str | None) -> float | None:
    """The served rate of an lb_mix row's value ('124 req/s served (2xx/3xx), …')."""
    match = re.match(r"(\d+(?:\.\d+)?) req/s served", value or "")
    return float(match.group(1)) if match else None


def _overload_rate(bench: Bench) -> tuple[float, str]:
    """(offered req/s, where its base comes from): OVERLOAD_RATE_FACTOR x what lb_mix served in
    this run, or in the previous results file when lb_mix was not measured in this run."""
    mix = bench.results.get("lb_mix")
    if mix:
        base, source = _served(mix), "lb_mix's"
    else:
        base, source = _served_rate(_previous().get("lb_mix")), "the previous run's lb_mix"
    if not base:
        raise RuntimeError("lb_overload offers twice lb_mix's served rate: none measured")
    return math.ceil(OVERLOAD_RATE_FACTOR * base), f"{OVERLOAD_RATE_FACTOR} × {source} {base:.0f}"


def _overload_connections(rate: float, threads: int = MIX_THREADS) -> int:
    """Connections of lb_overload: enough for `rate` even if every request took twice the app's
    queueing limit (rate x 2 x SHED_QUEUE_SECONDS), at least lb_mix's, a multiple of wrk's
    threads (wrk gives each thread connections / threads)."""
    wanted = max(MIX_CONNECTIONS, math.ceil(rate * 2 * SHED_QUEUE_SECONDS))
    return threads * math.ceil(wanted / threads)


def _lb_overload(bench: Bench) -> str:
    rate, base = _overload_rate(bench)
    connections, pace_ms = _overload_connections(rate), _pace_ms(rate)
    _open_sessions(bench)
    _settle(bench)
    offset, _ = _lb_log_since(bench.inv, None)
    bench.status(f"{rate:.0f} req/s offered over {connections} connections for "
                 f"{OVERLOAD_SECONDS} s")
    result = _run_mix(bench, connections, OVERLOAD_SECONDS, pace_ms)
    bench.status("load stopped: waiting for a 200")
    recovery = _recovery(bench)
    bench.status("counting the 503s in the lb's log")
    _, counted = _lb_log_since(bench.inv, offset)
    bench.results["lb_overload"] = result
    return (f"{_offered(pace_ms):.0f} req/s offered ({base}; {connections} connections, each "
            f"wrk thread starting a request every {pace_ms:.1f} ms): "
            + _overload_summary(result, counted, recovery))


# ---------------------------------------------------------------------------------- logins

# login_class, login_college, spray (issue #16 item 5): pupils of the benchmark data set log in
# through the lb from this machine, one client address for the lb, as a collège behind its NAT.
BENCH_PASSWORD = "bench-preau-2026"            # seed_bench's, as app/scripts/load_mix.lua
CLASS_LOGINS, CLASS_SECONDS = 30, 60
COLLEGE_LOGINS, COLLEGE_SECONDS = 600, 300
SPRAY_SECONDS, SPRAY_CONNECTIONS, SPRAY_ACCOUNTS = 60, 4, 200
APP_CPU_SECONDS = ("ps -eo times=,comm= | awk '$2 ~ /^gunicorn/ { s += $1 } END { print s + 0 }'")


def _bench_pupils(inv, count: int) -> list[str]:
    """Usernames of `count` pupils of the first benchmark collège (psql on the db host)."""
    from preau.core.uai import check_letter

    first7 = f"{BENCH_UAI_PREFIX}000"
    sql = ("select u.username from core_user u join core_membership m on m.user_id = u.id "
           "join core_establishment e on e.id = m.establishment_id "
           f"where e.uai = '{first7}{check_letter(first7)}' and m.profile = 'ELV' "
           f"order by u.username limit {int(count)}")
    db = inv.hosts_in("db")[0]
    out = _remote(db, f"sudo -u postgres psql -XAt -d preau -c {shlex.quote(sql)}").stdout
    pupils = [line.strip() for line in out.splitlines() if line.strip()]
    if len(pupils) < count:
        raise RuntimeError(f"{len(pupils)} pupils in the first benchmark collège, {count} needed")
    return pupils


def _throttle(bench: Bench, forgive: bool = False) -> dict:
    """The app's login throttle of this machine's address (`login_throttle`), forgiven first
    when asked: an earlier spray must not count against the logins measured."""
    from .logins import source_address
    from .release import run_manage

    here = source_address(_lb(bench.inv)[0])
    return run_manage(bench.inv, f"login_throttle {here}" + (" --forgive" if forgive else ""))


def _app_cpu(inv) -> float:
    """CPU seconds used so far by gunicorn on every app host."""
    return sum(float(_remote(host, APP_CPU_SECONDS).stdout.strip() or 0)
               for host in inv.hosts_in("app"))


def _login_summary(attempts: list, seconds: int) -> str:
    """'N refused (…) of M logins in S s, F other failures, p95 X s' of login attempts."""
    from .logins import p95

    refused = [a for a in attempts if a.status == 429]
    other = len([a for a in attempts if a.status not in (302, 429)])
    by = {who: len([a for a in refused if a.by == who]) for who in ("lb", "app")}
    latency = p95(attempts)
    return (f"{len(refused)} refused (lb {by['lb']}, app {by['app']}) of {len(attempts)} logins "
            f"from one address in {seconds} s, {other} other failures, p95 "
            + (f"{latency:.2f} s" if latency is not None else "—"))


def _logins(bench: Bench, count: int, seconds: int) -> list:
    from . import logins

    address, domain = _lb(bench.inv)
    pupils = _bench_pupils(bench.inv, count)
    _throttle(bench, forgive=True)
    bench.status(f"{count} pupils logging in over {seconds} s")
    return logins.arrivals([(name, BENCH_PASSWORD) for name in pupils], seconds,
                           lambda name, password: logins.login(address, domain, name, password))


def _login_class(bench: Bench) -> str:
    return _login_summary(_logins(bench, CLASS_LOGINS, CLASS_SECONDS), CLASS_SECONDS)


def _login_college(bench: Bench) -> str:
    before = _app_cpu(bench.inv)
    attempts = _logins(bench, COLLEGE_LOGINS, COLLEGE_SECONDS)
    cpu = _app_cpu(bench.inv) - before
    return (_login_summary(attempts, COLLEGE_SECONDS) + f", app hosts' CPU {cpu:.1f} s "
            f"({1000 * cpu / max(len(attempts), 1):.0f} ms a login, page included)")


def _spray_summary(attempts: list, seconds: int, free: int) -> str:
    """Password checks (401) a minute, the attempts refused and by whom, the app's longest
    Retry-After."""
    checks = len([a for a in attempts if a.status == 401])
    refused = [a for a in attempts if a.status == 429]
    lb = len([a for a in refused if a.by == "lb"])
    waits = [a.retry_after or 0 for a in refused if a.by == "app"]
    return (f"{checks * 60 / seconds:.0f} password checks a minute ({checks} in {seconds} s, "
            f"{SPRAY_CONNECTIONS} connections, wrong passwords on {SPRAY_ACCOUNTS} accounts) of "
            f"{len(attempts)} attempts: {lb} refused by the lb, {len(waits)} by the app "
            f"(Retry-After up to {max(waits, default=0)} s); the address started with {free} "
            "free failures (20 + 1 per account that logged in from it within the hour)")


def _spray(bench: Bench) -> str:
    from . import logins

    address, domain = _lb(bench.inv)
    names = _bench_pupils(bench.inv, SPRAY_ACCOUNTS)
    free = _throttle(bench, forgive=True)["free_failures"]
    bench.status(f"spraying for {SPRAY_SECONDS} s")
    try:
        attempts = logins.hammer(names, SPRAY_SECONDS, SPRAY_CONNECTIONS,
                                 lambda: logins.Browser(address, domain))
    finally:
        _throttle(bench, forgive=True)  # what runs after this logs in from here
    return _spray_summary(attempts, SPRAY_SECONDS, free)


# ------------------------------------------------------------------------------------ RPO

COMMIT_AFTER_SWITCH = (
    "sudo -u postgres psql -XAtq -v ON_ERROR_STOP=1"
    " -c \"select setting from pg_settings where name = 'archive_timeout'\""
    # something in the current segment, so that the switch really switches
    " -c \"select pg_logical_emit_message(false, 'preau-bench-rpo', 'switch')\""
    " -c 'select pg_walfile_name(pg_switch_wal())'"
    # the commit: a transactional WAL record, first thing in the new segment
    " -c \"select pg_logical_emit_message(true, 'preau-bench-rpo', now()::text)\""
    " -c 'select pg_walfile_name(pg_current_wal_insert_lsn())'")


def _commit_segment(output: str) -> tuple[int, str]:
    """(archive_timeout in s, the segment holding the commit) from COMMIT_AFTER_SWITCH's
    output; an error when the switch did not leave the commit in a new segment (the worst case
    would not be measured)."""
    lines = [line.strip() for line in output.strip().splitlines()]
    if len(lines) != 5 or not lines[0].isdigit():
        raise ValueError(f"unexpected psql output: {output!r}")
    switched, committed = lines[2], lines[4]
    if committed <= switched:
        raise ValueError(f"the commit is in {committed}, not after the switched segment "
                         f"{switched}")
    return int(lines[0]), committed


def _archived_glob(repo_path: str, stanza: str, segment: str) -> str:
    """Where pgBackRest stores a WAL segment: archive/STANZA/PGVERSION-ID/first 16 hex digits/
    SEGMENT-checksum[.ext]."""
    if not re.fullmatch(r"[0-9A-F]{24}", segment):
        raise ValueError(f"not a WAL segment name: {segment!r}")
    return f"{repo_path}/archive/{stanza}/*/{segment[:16]}/{segment}-*"


def _rpo(bench: Bench) -> str:
    """Worst case on an idle database: a commit right after a segment switch waits for
    archive_timeout to close its segment, then for archive-push. Timed from before the commit
    is sent (SSH connections already open) until the segment is seen in the repository:
    conservative by a round trip and the 0.2 s polling. A segment archived sooner than 90 % of
    archive_timeout was closed by another switch (the checkpointer's own timer firing at the
    same instant, or anything else switching WAL): not the worst case, measured once more."""
    from .procedures import connect, run
    from .procedures.backups import STANZA

    db, repo = bench.inv.hosts_in("db")[0], bench.inv.hosts_in("backup")[0]
    repo_path = str(repo.vars.get("backup_repo_path", "/var/lib/pgbackrest"))
    with connect(db) as db_ssh, connect(repo) as repo_ssh:
        run(db_ssh, "true", db)
        run(repo_ssh, "true", repo)
        for attempt in (1, 2):
            bench.status(f"commit right after a WAL switch (attempt {attempt})")
            started = time.monotonic()
            timeout, segment = _commit_segment(run(db_ssh, COMMIT_AFTER_SWITCH, db).stdout)
            bench.status(f"waiting for {segment} in the repository (archive_timeout {timeout} s)")
            found = run(repo_ssh, f"timeout {RPO_LIMIT_SECONDS} sh -c 'until ls "
                                  f"{_archived_glob(repo_path, STANZA, segment)} >/dev/null "
                                  "2>&1; do sleep 0.2; done'", repo, check=False)
            elapsed = time.monotonic() - started
            if found.return_code != 0:
                return "failed"
            if elapsed >= 0.9 * timeout:
                return f"{elapsed:.1f} (archive_timeout {timeout} s)"
    return f"{elapsed:.1f} (archive_timeout {timeout} s; segment closed early twice by another " \
           "switch: not the worst case)"


# -------------------------------------------------------------------------------- measures

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


def measures(inv) -> list[Measure]:
    inv_hosts = len(inv.hosts)
    plain = {"ANSIBLE_PIPELINING": "False", "ANSIBLE_FORKS": "5", "ANSIBLE_STRATEGY": "linear",
             "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}
    playbook = [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                "inventories/lab/hosts.yml", "--vault-password-file", ".lab/vault-password",
                "playbooks/site.yml"]
    return [
        Measure("up_from_nothing", "`up` from nothing, lab images cached (s; `bench "
                                   "--from-nothing`: destroys and rebuilds the lab)", "≤ 600",
                _from_nothing(uncached=False), opt_in="from_nothing"),
        Measure("up_from_nothing_uncached", "`up` from nothing, lab images built from Debian's "
                                            "packages (s; `bench --from-nothing --uncached`)",
                "≤ 900", _from_nothing(uncached=True), opt_in="uncached"),
        Measure("bench_data", f"benchmark data set, {BENCH_ESTABLISHMENTS} establishments × "
                              f"{BENCH_STUDENTS} students (seed_bench, once per lab: s, or "
                              "present)", "reported", probe=_bench_data),
        Measure("converge_noop", f"converge no-op re-run, {inv_hosts}-host lab (s)", "≤ 30",
                DEPLOY + ["converge"]),
        Measure("converge_noop_plain", "same no-op with plain ansible-playbook defaults "
                                       "(5 forks, no pipelining, no ControlPersist, linear) (s)",
                "reported", playbook, plain),
        Measure("release_noop", "release of the version already serving (s)", "reported",
                _release_noop),
        Measure("release_new", "release of a new version over every app host, one at a time "
                               "(s; zero failed requests is asserted by the lab tests)", "≤ 60",
                _new_release),
        Measure("rollback", "rollback to the previous release (s)", "reported",
                DEPLOY + ["rollback"]),
        Measure("establishment_add", "establishment add from AAF files, ~1,000 accounts (s)",
                "≤ 15", _add_1000_users),
        Measure("establishment_merge", "merge of two establishments of 600 students, backup "
                                       "and verification included (s)", "≤ 60", _merge_2x600),
        Measure("backup_drill", "restore drill into a scratch cluster: RTO of the benchmark "
                                "data set, from a full backup taken just before (s)",
                "reported", _drill_after_backup),
        Measure("audit", f"audit of the {inv_hosts}-host lab, admin account (s)", "≤ 60",
                DEPLOY + ["audit", "--report", "artifacts/bench-audit"], ok_codes=(0, 1)),
        Measure("lb_static", "nginx + TLS serving a static file (the waiting page's CSS): the "
                             "physical limit here", "reported", _wrk(inv, "/_preau/wait.css"),
                parse=_wrk_result),
        Measure("lb_app_page", "an app page (the activation form: Django, CSRF, templates; "
                               "the login form is rate-limited) through nginx + TLS to both app "
                               "hosts", "reported", _wrk(inv, "/activation/"), parse=_wrk_result),
        Measure("lb_mix", f"the app's realistic logged-in mix (app/scripts/load_mix.lua: "
                          f"dashboard, grades, logbook, messages, documents and downloads, "
                          f"timetable, absences, a login every 100 requests) on the benchmark "
                          f"data set, through nginx + TLS to both app hosts, "
                          f"{MIX_CONNECTIONS} connections, {MIX_SECONDS} s",
                "≥ 360 req/s at p95 < 250 ms, 0 errors", probe=_lb_mix, needs=("bench_data",)),
        Measure("lb_overload", f"the same mix beyond capacity: {OVERLOAD_RATE_FACTOR}× the "
                               "sustainable rate (what lb_mix served, same run) offered for "
                               f"{OVERLOAD_SECONDS} s at a steady pace (a client shown the "
                               "waiting page waits its turn like the others, as users do, "
                               "not at once as a closed loop would): what is still served, "
                               "waiting pages and who answered them, their p99 at the lb, "
                               "other 5xx, socket errors, then the time until a dashboard "
                               "answers 200 once the load stops",
                "fast waiting page, 0 other 5xx, 200 again ≤ 10 s", probe=_lb_overload,
                needs=("bench_data", "lb_mix")),
        Measure("login_class", f"a class of {CLASS_LOGINS} pupils logging in (page + form) "
                               f"from one address through the lb, arrivals spread over "
                               f"{CLASS_SECONDS} s", "0 refused, p95 < 1 s", probe=_login_class,
                needs=("bench_data",)),
        Measure("login_college", f"a collège of {COLLEGE_LOGINS} pupils logging in from one "
                                 f"address through the lb, arrivals spread over "
                                 f"{COLLEGE_SECONDS} s, with the app hosts' CPU",
                "0 refused", probe=_login_college, needs=("bench_data",)),
        Measure("spray", f"password spraying from one address through the lb: "
                         f"{SPRAY_CONNECTIONS} kept-alive connections posting wrong passwords "
                         f"for {SPRAY_SECONDS} s, never waiting for Retry-After: the password "
                         "checks it achieves (the address forgiven before and after)",
                "reported", probe=_spray, needs=("bench_data",)),
        Measure("rpo", "RPO, worst case: a commit right after a WAL segment switch until that "
                       "segment is in the pgBackRest repository (s, with the db host's "
                       "archive_timeout)",
                "≤ 60", probe=_rpo),
        Measure("status", "status of every host (s; exit 1 = something needs attention)",
                "reported", DEPLOY + ["status"], ok_codes=(0, 1)),
    ]


def select(all_measures: list[Measure], from_nothing: bool = False, uncached: bool = False,
           only: list[str] | None = None) -> list[Measure]:
    """The measures of this run, in order: opt-in ones only when asked (--uncached replaces
    the cached `up` by the uncached one), `only` keeps the named keys and what they need (the
    mix needs the benchmark data set)."""
    keys = {m.key for m in all_measures}
    unknown = sorted(set(only or ()) - keys)
    if unknown:
        raise ValueError(f"unknown measure(s): {', '.join(unknown)} (known: "
                         f"{', '.join(m.key for m in all_measures)})")
    if only:
        needs = {m.key: m.needs for m in all_measures}
        only = set(only)
        while missing := {n for k in only for n in needs[k]} - only:
            only |= missing
    wanted = {"from_nothing": from_nothing and not uncached, "uncached": from_nothing and uncached}
    return [m for m in all_measures
            if (m.opt_in is None or wanted.get(m.opt_in)) and (not only or m.key in only)]


# ------------------------------------------------------------------------------ the report

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


ROW = re.compile(r"^\| `(\w+)` \|[^|]*\| ([^|]+) \|[^|]*\| ([^|]+) \|\s*$")


def _previous(text: str | None = None) -> dict[str, str]:
    """The value each row of the results file would be compared with: its value, or, when it
    was not measured in that run, the previous value it carried."""
    if text is None:
        text = RESULTS.read_text() if RESULTS.exists() else ""
    values = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            value, before = match.group(2).strip(), match.group(3).strip()
            values[match.group(1)] = before if value.startswith(NOT_MEASURED) else value
    return values


def _ratio(rows: dict[str, str], key: str, static: str = "lb_static") -> str | None:
    """`key`'s request rate as a fraction of the static file's, from two rows' values."""
    def rate(value: str | None) -> float | None:
        match = re.match(r"(\d+(?:\.\d+)?) req/s", value or "")
        return float(match.group(1)) if match else None
    numerator, denominator = rate(rows.get(key)), rate(rows.get(static))
    if numerator is None or not denominator:
        return None
    return f"{numerator / denominator:.3f}"


class _Ticker:
    """A status line with the elapsed time of the current measure (and what it is doing)."""

    def __init__(self, console, title: str):
        self.console, self.title, self.note = console, title, ""
        self.started = time.monotonic()
        self._stop = threading.Event()

    def __enter__(self):
        self._status = self.console.status(self.title, spinner="dots")
        self._status.__enter__()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(1):
            self._status.update(f"{self.title} [dim]{time.monotonic() - self.started:.0f} s"
                                + (f" — {self.note}" if self.note else "") + "[/]")

    def set(self, note: str) -> None:
        self.note = note

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._status.__exit__(*exc)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """deploy.py bench's options."""
    parser.add_argument("--from-nothing", action="store_true",
                        help="also time `up` from nothing: DESTROYS the lab (`down`) and "
                             "rebuilds it on the same topology (images cached); ~10 min")
    parser.add_argument("--uncached", action="store_true",
                        help="with --from-nothing: remove the lab images first, so that `up` "
                             "builds them from Debian's packages; ~15 min")
    parser.add_argument("--only", nargs="+", metavar="KEY", default=None,
                        help="only these measures (keys of BENCHMARKS.md, e.g. lb_mix rpo) and "
                             "what they need (lb_mix: bench_data); the other rows keep their "
                             "previous value as `not measured`")


def _measure(measure: Measure, bench: Bench, ticker: _Ticker) -> str:
    if measure.probe:
        try:
            return measure.probe(bench)
        except Exception as error:  # a failed measure is a row, not the end of the run
            ticker.console.print(f"  failed: {str(error)[-800:]}")
            return "failed"
    env = dict(os.environ, **(measure.env or {}))
    with tempfile.TemporaryDirectory(prefix="preau-bench-") as tmp:
        command = measure.command
        if callable(command):
            try:
                command = command(Path(tmp))
            except (subprocess.CalledProcessError, OSError) as error:
                ticker.console.print(f"  setup failed: {error}")
                return "failed"
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - started
    if result.returncode not in measure.ok_codes:
        ticker.console.print(f"  failed ({result.returncode}): "
                             f"{(result.stderr or result.stdout).strip()[-800:]}")
        return "failed"
    return measure.parse(result.stdout) if measure.parse else f"{elapsed:.1f}"


def run(inv, console, options: argparse.Namespace | None = None) -> int:
    from . import system

    from_nothing = bool(getattr(options, "from_nothing", False))
    uncached = bool(getattr(options, "uncached", False))
    if uncached and not from_nothing:
        console.print("[red]--uncached goes with --from-nothing[/]")
        return 2
    try:
        chosen = {m.key for m in select(measures(inv), from_nothing, uncached,
                                        getattr(options, "only", None))}
    except ValueError as error:
        console.print(f"[red]{error}[/]")
        return 2
    previous = _previous()
    system.ensure(["wrk"], "the load measures of the bench")
    values: dict[str, str] = {}
    started_at = datetime.now(timezone.utc)
    machine = _machine()
    skipped = f"{NOT_MEASURED} (this run: --only)"
    with tempfile.TemporaryDirectory(prefix="preau-bench-run-") as tmp:
        bench = Bench(inv, Path(tmp))
        for measure in measures(inv):
            if measure.key not in chosen:
                continue
            if measure.key.startswith("up_from_nothing"):
                console.print("[yellow]the lab is destroyed and rebuilt (`down`, then `up`)[/]")
            before = previous.get(measure.key, "—")
            with _Ticker(console, f"{measure.key} (previous {before})…") as ticker:
                bench.status = ticker.set
                _wait_quiet(bench)  # not in the wake of the previous measure (or of seeding)
                value = _measure(measure, bench, ticker)
            values[measure.key] = value
            console.print(f"  {measure.title}: [bold]{value}[/] (previous {before})")
            if measure.key.startswith("up_from_nothing"):
                if value == "failed":
                    console.print("[red]the lab did not come up: the other measures are not "
                                  "made[/]")
                    skipped = f"{NOT_MEASURED} (the lab did not come up)"
                    break
                from . import inventory
                bench.inv = inv = inventory.load(None)  # the lab's inventory was made anew
    all_measures = measures(inv)
    for key, title in (("lb_app_page", "lb_app_vs_static"), ("lb_mix", "lb_mix_vs_static")):
        if key in values and "lb_static" in values:  # same run only
            values[title] = _ratio(values, key) or "failed"
    if "status" in values:  # the last measure: the lab as the run leaves it
        worker, lab = _memory()
        values["memory_worker"], values["memory_lab"] = worker, lab
        console.print(f"  app worker RSS {worker} MB, whole lab {lab} MB")
    extra = [
        Measure("lb_app_vs_static", "app page rate / static file rate, same lb, same run",
                "reported"),
        Measure("lb_mix_vs_static", "realistic mix rate / static file rate, same lb, same run "
                                    "(the physical limit here)", "reported"),
        Measure("memory_worker", "largest app worker RSS (MB)", "≤ 150"),
        Measure("memory_lab", "memory of the whole lab, every container (MB)", "≤ 4096"),
    ]
    rows = []
    for measure in all_measures + extra:
        before = previous.get(measure.key, "—")
        if measure.key in values:
            value = values[measure.key]
        elif measure.opt_in:
            value = f"{NOT_MEASURED} (opt-in: `bench --from-nothing" + \
                    (" --uncached`)" if measure.opt_in == "uncached" else "`)")
        else:
            value = skipped
        rows.append((measure, value, before))
    failed = any(values.get(key) == "failed" for key in values)
    lines = [
        "# Benchmarks of the bundle",
        "",
        f"Measured by `./deploy.py bench` on {started_at:%Y-%m-%d %H:%M} UTC, on {machine}.",
        "Each figure is wall-clock time of the real command against the running lab, or what "
        f"wrk measured from this machine through the lb over TLS for the lb_ rows "
        f"(lb_static and lb_app_page: {WRK_CONNECTIONS} connections, {WRK_SECONDS} s; lb_mix: "
        f"{MIX_CONNECTIONS} connections, {MIX_SECONDS} s after a {MIX_WARMUP_SECONDS} s "
        f"warm-up, closed loop; lb_overload: the offered rate and connections its value "
        f"names, {OVERLOAD_SECONDS} s); each measure, and each load after its warm-up "
        f"preparations, starts once the machine is quiet: at most {QUIET_BUSY:.0%} of its CPU "
        f"busy over {QUIET_SECONDS} s, {QUIET_LIMIT_SECONDS} s of waiting at most; `previous` is the value of the run before this one (a row not "
        "measured in a run carries its previous value).",
        "",
        "| measure | what | value | target | previous |",
        "|---|---|---|---|---|",
    ]
    for measure, value, before in rows:
        lines.append(f"| `{measure.key}` | {measure.title} | {value} | {measure.target} | "
                     f"{before} |")
    lines += ["", "App load benchmark on one machine, without the lb: see app/BENCHMARKS.md.",
              ""]
    RESULTS.write_text("\n".join(lines))
    console.print(f"results written to {RESULTS.name}")
    return 1 if failed else 0
