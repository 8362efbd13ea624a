"""The load rows: wrk through the first load balancer over TLS, from this machine.

lb_static (a static file: the physical limit here) and lb_app_page (an app page) are plain wrk
runs. lb_mix is the app's realistic logged-in mix (app/scripts/load_mix.lua over sessions opened
on an app host by app/scripts/bench_sessions.py, the same code as the app's own load benchmark).
lb_overload offers the same mix beyond capacity: twice the rate lb_mix served, at a steady pace
(waiting pages and who answered them, other 5xx, recovery). Two derived rows compare the app's
rates with the static file's.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..paths import ROOT
from . import core, cpu
from .core import Bench, Measure

if TYPE_CHECKING:
    from ..inventory import Inventory

SCRIPTS = ROOT / "app" / "scripts"
LOAD_MIX = SCRIPTS / "load_mix.lua"
SESSIONS_SCRIPT = SCRIPTS / "bench_sessions.py"

# wrk runs: the same every time (the rows of BENCHMARKS.md are compared run to run).
WRK_CONNECTIONS, WRK_SECONDS = 32, 15  # lb_static, lb_app_page
MIX_WARMUP_CONNECTIONS, MIX_WARMUP_SECONDS = 8, 10
MIX_CONNECTIONS, MIX_SECONDS = 16, 30  # lb_mix (closed loop: unpaced)
MIX_THREADS = 2  # wrk -t of lb_mix and lb_overload
# lb_overload: an offered rate of twice the sustainable one (what lb_mix served, same run), paced
# by load_mix.lua (PREAU_PACE_MS): users shown the waiting page (Retry-After, no automatic
# refresh) do not retry in a tight loop, so a 503 waits its turn like any answer; a closed loop
# would instead send ~10,000 waiting pages/s that take the app hosts' CPU on this machine (an
# attack, not twice the users). Enough connections that the rate holds even if every request
# took twice the app's queueing limit (PREAU_MAX_QUEUE_SECONDS, 1 s), at least lb_mix's.
OVERLOAD_RATE_FACTOR, OVERLOAD_SECONDS, SHED_QUEUE_SECONDS = 2, 20, 1.0
RECOVERY_LIMIT_SECONDS = 60  # lb_overload: give up waiting for a 200 after
SESSIONS_TIMEOUT = 600
# Drills under load (release_with_migration, patch_reboot_rolling): the mix at a steady rate
# well within lb_mix's capacity (users at work, not a stress test), on from DRILL_LEAD s before
# the drill to DRILL_LEAD s after it.
DRILL_RATE, DRILL_CONNECTIONS, DRILL_LEAD, DRILL_TIMEOUT = (
    100,
    8,
    5,
    1800,
)  # seconds bench_sessions.py may take to open the mix's sessions

# load_mix.lua's PREAU_RESULT line, decoded: requests, duration_s, rps, p50_ms … max_ms, errors
# (wrk's socket errors by kind), statuses (status → count), pace_ms.
MixResult = dict[str, Any]


# --------------------------------------------------------------------------------- wrk


def _wrk(inv: Inventory, path: str) -> list[str]:
    """wrk through the first load balancer, HTTPS, 32 connections for 15 s."""
    address, domain = core.lb(inv)
    return [
        "wrk",
        "-t2",
        f"-c{WRK_CONNECTIONS}",
        f"-d{WRK_SECONDS}s",
        "--latency",
        "-H",
        f"Host: {domain}",
        f"https://{address}{path}",
    ]


def _wrk_result(output: str) -> str:
    """'N req/s, p99 M ms, E errors' from wrk's report (errors: sockets + non-2xx/3xx)."""
    requests = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", output, re.M)
    if not requests or not p99:
        return "failed"
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return (
        f"{float(requests.group(1)):.0f} req/s, p99 {float(p99.group(1)) * scale:.0f} ms, "
        f"{errors} errors"
    )


# ---------------------------------------------------------------------------- the mix


def open_sessions(bench: Bench) -> Path:
    """The sessions file of the mix, opened on the first app host by app/scripts/
    bench_sessions.py with the release's Python (as the app's user, against the platform's
    database); once per run."""
    if bench.sessions:
        return bench.sessions
    from ..release import CURRENT
    from ..runner import FabricSession

    bench.status("opening sessions on an app host")
    host = bench.inv.hosts_in("app")[0]
    with FabricSession(host, bench.inv) as session:
        remote = session.run(host, "mktemp -d /tmp/preau-bench.XXXXXX", sudo=False).stdout.strip()
        try:
            session.connection.put(str(SESSIONS_SCRIPT), f"{remote}/bench_sessions.py")
            session.run(host, f"chmod 755 {remote}", sudo=False)
            result = session.run(
                host,
                "cd /tmp && sudo -u preau env PREAU_METRICS_MULTIPROC_DIR= "
                "DJANGO_SETTINGS_MODULE=preau.settings "
                f"{CURRENT}/venv/bin/python {remote}/bench_sessions.py -",
                timeout=SESSIONS_TIMEOUT,
            )
        finally:
            session.run(host, f"rm -rf {remote}", sudo=False, check=False)
    bench.sessions = bench.tmp / "sessions.tsv"
    bench.sessions.write_text(result.stdout)
    bench.results["sessions"] = json.loads(result.stderr.strip().splitlines()[-1])
    return bench.sessions


def _mix_command(inv: Inventory, sessions: Path, connections: int, seconds: int) -> list[str]:
    """wrk with the app's realistic mix, through the first lb over TLS (Host = public name)."""
    address, domain = core.lb(inv)
    return [
        "wrk",
        f"-t{MIX_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-H",
        f"Host: {domain}",
        "-s",
        str(LOAD_MIX),
        f"https://{address}",
        "--",
        str(sessions),
    ]


def _pace_ms(offered: float, threads: int = MIX_THREADS) -> float:
    """load_mix.lua's PREAU_PACE_MS for an `offered` rate (req/s, whole run): each of wrk's
    threads starts a request every threads x 1000 / rate ms."""
    if not offered > 0:
        raise ValueError(f"no pace for an offered rate of {offered} req/s")
    return 1000 * threads / offered


def _offered(pace_ms: float, threads: int = MIX_THREADS) -> float:
    """The rate (req/s) that `threads` threads paced at `pace_ms` offer: _pace_ms's inverse."""
    return 1000 * threads / pace_ms


def _mix_env(pace_ms: float | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """wrk's environment: PREAU_PACE_MS when paced, never inherited when not (lb_mix stays a
    closed loop)."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k != "PREAU_PACE_MS"}
    if pace_ms is not None:
        env["PREAU_PACE_MS"] = f"{pace_ms:.3f}"
    return env


def _mix_output(output: str) -> MixResult | None:
    """The PREAU_RESULT line that load_mix.lua prints, decoded (None when absent)."""
    match = re.search(r"^PREAU_RESULT (.*)$", output, re.M)
    return dict(json.loads(match.group(1))) if match else None


def _statuses(result: MixResult) -> dict[int, int]:
    return {int(status): count for status, count in result["statuses"].items()}


def _socket_errors(result: MixResult) -> int:
    return sum(n for kind, n in result["errors"].items() if kind != "status")


def _socket_errors_text(result: MixResult) -> str:
    """'N socket errors' with their kinds as wrk counts them (connect, read, write, timeout:
    no answer within wrk's 2 s)."""
    total = _socket_errors(result)
    kinds = ", ".join(
        f"{kind} {n}" for kind, n in result["errors"].items() if kind != "status" and n
    )
    return f"{total} socket errors" + (f" ({kinds})" if total else "")


def _served(result: MixResult) -> float:
    """Answers per second that were pages (2xx/3xx), not waiting pages or errors."""
    pages = sum(n for s, n in _statuses(result).items() if 200 <= s < 400)
    return float(pages / result["duration_s"])


def _mix_summary(result: MixResult) -> str:
    """lb_mix's value: pages served per second (a fast 503 is no throughput), latency of every
    answer, errors: socket errors and every status >= 400 but 429, which only the login
    locations answer (the lb's per-address login rate limit: all of wrk's logins come from one
    address), counted apart."""
    statuses = _statuses(result)
    refused = statuses.get(429, 0)
    bad = {s: n for s, n in sorted(statuses.items()) if s >= 400 and s != 429}
    errors = _socket_errors(result) + sum(bad.values())
    detail = ", ".join(
        [f"{n} × {s}" for s, n in bad.items()]
        + ([f"{_socket_errors(result)} socket"] if _socket_errors(result) else [])
    )
    logins = (
        f", {refused} logins refused by the lb's rate limit (one client address)" if refused else ""
    )
    return (
        f"{_served(result):.0f} req/s served (2xx/3xx), p95 {result['p95_ms']:.0f} ms, p99 "
        f"{result['p99_ms']:.0f} ms, {errors} errors" + (f" ({detail})" if detail else "") + logins
    )


def _run_mix(
    bench: Bench, connections: int, seconds: int, pace_ms: float | None = None
) -> MixResult:
    command = _mix_command(bench.inv, open_sessions(bench), connections, seconds)
    output = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        env=_mix_env(pace_ms),
        check=False,
    )
    result = _mix_output(output.stdout)
    if output.returncode or result is None:
        raise RuntimeError(f"wrk failed: {(output.stderr or output.stdout)[-500:]}")
    _check_pace(result, pace_ms)
    return result


def failed_requests(result: MixResult) -> int:
    """Requests a user saw fail: socket errors and every status >= 400 but 429 (the login
    locations' per-address rate limit: all of wrk's logins come from one address)."""
    bad = sum(n for s, n in _statuses(result).items() if s >= 400 and s != 429)
    return _socket_errors(result) + bad


# wrk's socket errors on a kept-alive connection the lb closed (nginx's graceful reload, which
# a drain does, closes its idle client connections): the request wrk wrote on it got no
# answer and reached no app. A browser resends such a request on a new connection (RFC 9112
# 9.3.1; over HTTP/2 nginx's GOAWAY names the streams it did not process); wrk counts an error.
CLOSED_KINDS = ("read", "write")


def closed_by_the_lb(result: MixResult) -> int:
    return sum(n for kind, n in result["errors"].items() if kind in CLOSED_KINDS)


def failures_text(result: MixResult, closed: bool = True) -> str:
    """What failed_requests counted, by kind: 'status 502 3, timeout 2' (wrk's socket errors:
    connect, read, write, timeout: no answer within its 2 s), without CLOSED_KINDS unless
    `closed`; 'none' when nothing failed."""
    parts = [
        f"status {s} {n}" for s, n in sorted(_statuses(result).items()) if s >= 400 and s != 429
    ]
    left_out = ("status",) if closed else ("status", *CLOSED_KINDS)
    parts += [f"{kind} {n}" for kind, n in result["errors"].items() if kind not in left_out and n]
    return ", ".join(parts) or "none"


def under_mix(
    bench: Bench, command: list[str], timeout: float = DRILL_TIMEOUT
) -> tuple[float, MixResult, subprocess.CompletedProcess[str]]:
    """Run `command` (a drill: release, patch) under the mix at a steady, sustainable pace,
    from DRILL_LEAD s before it starts to DRILL_LEAD s after it ends: (its duration, the
    mix's result, the command's)."""
    sessions = open_sessions(bench)
    _settle(bench)
    bench.status(f"under the mix ({DRILL_RATE} req/s): {' '.join(command[2:])}")
    wrk = subprocess.Popen(
        _mix_command(bench.inv, sessions, DRILL_CONNECTIONS, int(timeout) + 60),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_mix_env(_pace_ms(DRILL_RATE)),
    )
    try:
        time.sleep(DRILL_LEAD)
        started = time.monotonic()
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        elapsed = time.monotonic() - started
        time.sleep(DRILL_LEAD)
    finally:
        wrk.send_signal(signal.SIGINT)  # wrk stops, then prints its result (load_mix.lua's too)
        out, err = wrk.communicate(timeout=120)
    result = _mix_output(out)
    if result is None:
        raise RuntimeError(f"wrk gave no result: {(err or out)[-500:]}")
    return elapsed, result, done


def _check_pace(result: MixResult, pace_ms: float | None) -> None:
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
    bench.results["busy_before"] = core.wait_quiet(bench)


def _lb_mix(bench: Bench) -> str:
    sessions = open_sessions(bench)
    _settle(bench)
    bench.status(f"warm-up, {MIX_WARMUP_SECONDS} s")
    _run_mix(bench, MIX_WARMUP_CONNECTIONS, MIX_WARMUP_SECONDS)
    bench.status(
        f"{MIX_CONNECTIONS} connections for {MIX_SECONDS} s over "
        f"{len(sessions.read_text().splitlines())} sessions"
    )
    result, used = cpu.measured(bench.inv, lambda: _run_mix(bench, MIX_CONNECTIONS, MIX_SECONDS))
    bench.results["lb_mix"] = result
    busy = bench.results["busy_before"]
    return _mix_summary(result) + f", machine {busy:.0%} busy before the warm-up; {used}"


# ------------------------------------------------------------------------------ overload

# The 503s of the lb's access log (role nginx, log_format preau: the status is the 9th field, then
# rt= and upstream=: an address when an app host answered ("app"), the upstream's name when the
# lb found no app host in rotation ("none"), - when the request never reached the proxy: the
# lb's limit of requests in flight, limit_conn ("limit")), counted on the lb by request time and
# origin: an overload can log some 100,000 lines, too many to bring back.
COUNT_503 = (
    '$9 == 503 { rt = "?"; origin = "none"; '
    "for (i = 10; i <= NF; i++) { if ($i ~ /^rt=/) rt = substr($i, 4); "
    'if ($i == "upstream=-") origin = "limit"; '
    'else if ($i ~ /^upstream=/ && $i ~ /:/) origin = "app" } '
    'n[rt " " origin]++ } END { for (k in n) print k, n[k] }'
)
ORIGINS = {
    "limit": "the lb's limit of requests in flight",
    "none": "the lb with no app host in rotation",
    "app": "the app",
}


def _lb_log_since(inv: Inventory, offset: int | None) -> tuple[int, str]:
    """The lb's access log: its size now (offset None), or COUNT_503 over what was written
    since `offset`."""
    lb = inv.hosts_in("lb")[0]
    log = "/var/log/nginx/access.log"
    if offset is None:
        return int(core.remote(inv, lb, f"stat -c %s {log}").stdout.strip()), ""
    counted = core.remote(inv, lb, f"tail -c +{offset + 1} {log} | awk {shlex.quote(COUNT_503)}")
    return offset, counted.stdout


def _counted_503s(output: str) -> list[tuple[float, str, int]]:
    """COUNT_503's lines as (request time in ms, origin: a key of ORIGINS, count)."""
    counted = []
    for line in output.splitlines():
        parts = line.split()
        if (
            len(parts) == 3
            and re.fullmatch(r"[\d.]+", parts[0])
            and parts[1] in ORIGINS
            and parts[2].isdigit()
        ):
            counted.append((float(parts[0]) * 1000, parts[1], int(parts[2])))
    return counted


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 1 ms" if value < 1 else f"{value:.0f} ms"


def _overload_summary(result: MixResult, counted_503s: str, recovery: float | None) -> str:
    """lb_overload's value: waiting pages (503, the lb's or the app's) among the answers, the
    p99 of their time at the lb, other 5xx, socket errors, and the time to a 200 afterwards."""
    statuses = _statuses(result)
    answered = sum(statuses.values())
    waiting = statuses.get(503, 0)
    other_5xx = sum(n for s, n in statuses.items() if 500 <= s <= 599 and s != 503)
    logged = _counted_503s(counted_503s)
    total = sum(n for _, _, n in logged)
    by = {key: sum(n for _, o, n in logged if o == key) for key in ORIGINS}
    p99 = core.percentile([(ms, n) for ms, _, n in logged], 0.99)
    share = f"{100 * waiting / answered:.0f} %" if answered else "no answer"
    origin = (
        " (answered by "
        + ", ".join(f"{text} {100 * by[key] / total:.0f} %" for key, text in ORIGINS.items())
        + ")"
        if total
        else ""
    )
    back = (
        f"200 again after {recovery:.1f} s"
        if recovery is not None
        else f"no 200 within {RECOVERY_LIMIT_SECONDS} s"
    )
    return (
        f"{_served(result):.0f} req/s served (2xx/3xx) of {result['rps']:.0f} answers/s (p95 "
        f"{result['p95_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, every answer), {share} "
        f"waiting page (503){origin}, p99 of the 503s {_ms(p99)} at the lb, {other_5xx} other "
        f"5xx, {_socket_errors_text(result)}, {back}"
    )


def _normal_page(bench: Bench) -> tuple[str, str]:
    """(dashboard URL, session cookie) of the first session of the mix."""
    assert bench.sessions is not None, "the mix's sessions are opened first"
    cookie, _, *urls = bench.sessions.read_text().splitlines()[0].split("\t")
    return urls[0], cookie


def _get(inv: Inventory, path: str, cookie: str, timeout: float = 10) -> int:
    """Status of one GET through the first lb over TLS (Host and SNI = the public name)."""
    from ..logins import Browser

    address, domain = core.lb(inv)
    browser = Browser(address, domain, timeout=timeout)
    try:
        browser.connection.request(
            "GET", path, headers={"Host": domain, "Cookie": f"sessionid={cookie}"}
        )
        return browser.connection.getresponse().status
    finally:
        browser.close()


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


def _overload_rate(bench: Bench) -> tuple[float, str]:
    """(offered req/s, where its base comes from): OVERLOAD_RATE_FACTOR x what lb_mix served in
    this run, or in the previous results file when lb_mix was not measured in this run."""
    from . import table

    mix = bench.results.get("lb_mix")
    base: float | None
    if mix:
        base, source = _served(mix), "lb_mix's"
    else:
        base = core.rate(table.previous().get("lb_mix"), "req/s served")
        source = "the previous run's lb_mix"
    if not base:
        raise RuntimeError("lb_overload offers twice lb_mix's served rate: none measured")
    return math.ceil(OVERLOAD_RATE_FACTOR * base), f"{OVERLOAD_RATE_FACTOR} × {source} {base:.0f}"


def _overload_connections(offered: float, threads: int = MIX_THREADS) -> int:
    """Connections of lb_overload: enough for `offered` even if every request took twice the
    app's queueing limit (rate x 2 x SHED_QUEUE_SECONDS), at least lb_mix's, a multiple of
    wrk's threads (wrk gives each thread connections / threads)."""
    wanted = max(MIX_CONNECTIONS, math.ceil(offered * 2 * SHED_QUEUE_SECONDS))
    return threads * math.ceil(wanted / threads)


def _lb_overload(bench: Bench) -> str:
    offered, base = _overload_rate(bench)
    connections, pace_ms = _overload_connections(offered), _pace_ms(offered)
    open_sessions(bench)
    _settle(bench)
    offset, _ = _lb_log_since(bench.inv, None)
    bench.status(
        f"{offered:.0f} req/s offered over {connections} connections for {OVERLOAD_SECONDS} s"
    )
    result, used = cpu.measured(
        bench.inv, lambda: _run_mix(bench, connections, OVERLOAD_SECONDS, pace_ms)
    )
    bench.status("load stopped: waiting for a 200")
    recovery = _recovery(bench)
    bench.status("counting the 503s in the lb's log")
    _, counted = _lb_log_since(bench.inv, offset)
    bench.results["lb_overload"] = result
    return (
        f"{_offered(pace_ms):.0f} req/s offered ({base}; {connections} connections, each "
        f"wrk thread starting a request every {pace_ms:.1f} ms): "
        + _overload_summary(result, counted, recovery)
        + f"; {used}"
    )


# -------------------------------------------------------------------------------- rows


def measures(inv: Inventory) -> list[Measure]:
    return [
        Measure(
            "lb_static",
            "nginx + TLS serving a static file (the waiting page's CSS): the physical limit here",
            "reported",
            _wrk(inv, "/_preau/wait.css"),
            parse=_wrk_result,
        ),
        Measure(
            "lb_app_page",
            "an app page (the activation form: Django, CSRF, templates; the login form is "
            "rate-limited) through nginx + TLS to both app hosts",
            "reported",
            _wrk(inv, "/activation/"),
            parse=_wrk_result,
        ),
        Measure(
            "lb_mix",
            "the app's realistic logged-in mix (app/scripts/load_mix.lua: dashboard, grades, "
            "logbook, messages, documents and downloads, timetable, absences, teachers' roll "
            "call saves and their corrections, a login every 100 requests) on the benchmark "
            "data set, through nginx + TLS to both app hosts, "
            f"{MIX_CONNECTIONS} connections, {MIX_SECONDS} s, with where the CPU went (as "
            "lb_overload)",
            "≥ 360 req/s at p95 < 250 ms, 0 errors",
            probe=_lb_mix,
            needs=("bench_data",),
        ),
        Measure(
            "lb_overload",
            f"the same mix beyond capacity: {OVERLOAD_RATE_FACTOR}× the sustainable rate (what "
            f"lb_mix served, same run) offered for {OVERLOAD_SECONDS} s at a steady pace (a "
            "client shown the waiting page waits its turn like the others, as users do, not at "
            "once as a closed loop would): what is still served, waiting pages and who answered "
            "them, their p99 at the lb, other 5xx, socket errors, then the time until a "
            "dashboard answers 200 once the load stops; where the machine's CPU went during "
            "the load (the load generator, nginx, the app hosts, PostgreSQL: preau_ops/bench/"
            "cpu.py)",
            "fast waiting page, 0 other 5xx, 200 again ≤ 10 s",
            probe=_lb_overload,
            needs=("bench_data", "lb_mix"),
        ),
    ]


# Derived rows: an app rate as a fraction of the static file's, both measured in the same run.
RATIOS = [
    Measure("lb_app_vs_static", "app page rate / static file rate, same lb, same run", "reported"),
    Measure(
        "lb_mix_vs_static",
        "realistic mix rate / static file rate, same lb, same run (the physical limit here)",
        "reported",
    ),
]


def _ratio(rows: dict[str, str], key: str, static: str = "lb_static") -> str | None:
    """`key`'s request rate as a fraction of the static file's, from two rows' values."""
    numerator, denominator = core.rate(rows.get(key)), core.rate(rows.get(static))
    if numerator is None or not denominator:
        return None
    return f"{numerator / denominator:.3f}"


def ratios(values: dict[str, str]) -> dict[str, str]:
    """The derived rows' values, for the rates measured in this run (with lb_static)."""
    return {
        title: _ratio(values, key) or "failed"
        for key, title in (("lb_app_page", "lb_app_vs_static"), ("lb_mix", "lb_mix_vs_static"))
        if key in values and "lb_static" in values
    }
