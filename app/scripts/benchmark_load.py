#!/usr/bin/env python3
"""Load benchmark: gunicorn + PostgreSQL 15 on this machine, wrk (Debian package) on loopback.

    python scripts/benchmark_load.py                     # 20 collèges × 600 students, then wrk
    python scripts/benchmark_load.py --duration 30 --connections 48 --workers 5

1. starts a PostgreSQL 15 in --pgdata (kept between runs: the data set is generated once with
   `preau-manage seed_bench`: 20 establishments, ≈ 12,000 students, ≈ 21,000 parents, ≈ 1,300
   staff, a year of grades, absences, logbook, messages, documents);
2. opens sessions for a sample of students, parents, teachers and vie scolaire (no password
   hashing: sessions are written like a login would);
3. serves the app with gunicorn (sync workers) on 127.0.0.1, runs wrk with scripts/load_mix.lua
   (dashboard, grades, logbook, messages, documents and downloads, timetable, absences, and a
   login every 100 requests), then an overload run far beyond capacity;
4. appends the numbers and the machine description to docs/benchmarks-history.md (dated runs of
   the app alone; the platform's current figures are BENCHMARKS.md, from `deploy.py bench`).

Only loopback; bounded (a few minutes). Needs `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

APP = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(APP), str(APP / "src")]
RESULTS = APP.parent / "docs" / "benchmarks-history.md"

from bench_sessions import (  # noqa: E402,F401 (benchmark_cpu imports open_sessions from here)
    SAMPLE,
    open_sessions,
)

from tests.conftest import PG_BIN  # noqa: E402
from tests.conftest import _as_postgres as as_postgres
from tests.conftest import _free_port as free_port


class Postgres:
    """A PostgreSQL 15 with production-like durability (fsync on), its data kept in `data`."""

    def __init__(self, data: Path) -> None:
        self.data, self.sock, self.port = (
            data,
            Path(tempfile.mkdtemp(prefix="preau-bench-sock-")),
            free_port(),
        )
        if os.geteuid() == 0:
            shutil.chown(self.sock, "postgres", "postgres")

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.data, "postgres", "postgres")
            subprocess.run(
                as_postgres(
                    [
                        str(PG_BIN / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                capture_output=True,
            )
        opts = (
            f"-p {self.port} -k {self.sock} -c listen_addresses='' -c max_connections=100 "
            "-c shared_buffers=512MB -c effective_cache_size=2GB -c work_mem=8MB"
        )
        subprocess.run(
            as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    opts,
                    "-l",
                    str(self.data.parent / "bench-pg.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            as_postgres(
                [
                    str(PG_BIN / "createdb"),
                    "-h",
                    str(self.sock),
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "preau",
                ]
            ),
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(self.sock, ignore_errors=True)


def write_config(pg: Postgres, tmp: Path) -> Path:
    config = tmp / "preau.toml"
    config.write_text(
        f"""[django]
secret_key = "benchmark-only-{random.getrandbits(64):x}"
allowed_hosts = ["127.0.0.1", "localhost"]
[database]
host = "{pg.sock}"
port = {pg.port}
name = "preau"
user = "postgres"
sslmode = "disable"
[storage]
static_root = "{tmp / "static"}"
media_root = "{tmp / "media"}"
[metrics]
multiproc_dir = "{tmp / "metrics"}"
[security]
environment = "lab"
""",
        encoding="utf-8",
    )
    return config


def prepare(pg: Postgres, tmp: Path, establishments: int) -> None:
    """This process' environment pointed at `pg` (a configuration in `tmp`), the schema migrated,
    the static files collected and the data set seeded (a no-op once the data set holds
    `establishments`: seed_bench adds the ones missing): what the in-process scripts
    (benchmark_cpu, measure_memory) do before measuring."""
    os.environ.update(
        PREAU_CONFIG=str(write_config(pg, tmp)),
        DJANGO_SETTINGS_MODULE="preau.settings",
        PREAU_LOG_STREAM="stderr",
    )
    os.environ.pop("PREAU_METRICS_MULTIPROC_DIR", None)
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")
    manage("seed_bench", "--json", "--establishments", str(establishments))


def manage(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "preau.manage", *args],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    if result.returncode:
        raise SystemExit(
            f"preau-manage {' '.join(args)} failed (exit {result.returncode}):\n{result.stderr}"
        )
    return result.stdout


def wrk(url: str, sessions: Path, connections: int, seconds: int, threads: int = 2) -> dict:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(APP / "scripts" / "load_mix.lua"),
        url,
        "--",
        str(sessions),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"wrk failed: {result.stdout}\n{result.stderr}")
    output = result.stdout
    match = re.search(r"^PREAU_RESULT (.*)$", output, re.M)
    if not match:
        raise SystemExit(f"wrk gave no result:\n{output}")
    return {"connections": connections, **json.loads(match.group(1))}


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    pg = subprocess.run(
        [str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    import django

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": pg,
    }


def report(args, counts, data, runs, host, load) -> str:
    date = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"## Load benchmark – {date}",
        "",
        f"Machine: {host['cpu']}, {host['cores']} cores, {host['memory_gb']} GB RAM, Linux {host['kernel']}, "
        f"{host['postgresql']}, Python {host['python']}, Django {host['django']}. gunicorn "
        f"{args.workers} sync workers, PostgreSQL and wrk (2 threads) on the same machine, loopback. "
        f"Load average (1 min) before/after the runs: {load[0]:.1f} / {load[1]:.1f} (the machine is shared).",
        "",
        f"Data: {data}",
        f"Sessions in the mix: {counts}",
        "",
        "| run | connections | requests/s | p50 ms | p95 ms | p99 ms | errors | statuses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        errors = sum(r["errors"].values()) - r["errors"]["status"]
        lines.append(
            f"| {name} | {r['connections']} | {r['rps']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"{r['p99_ms']:.0f} | {errors} socket, {r['errors']['status']} non-2xx/3xx | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(r['statuses'].items()))} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--establishments", type=int, default=20)
    parser.add_argument("--students", type=int, default=600, help="per establishment")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--overload-connections", type=int, default=600)
    parser.add_argument("--overload-duration", type=int, default=20)
    parser.add_argument("--pgdata", default="/var/tmp/preau-bench-pg")
    parser.add_argument(
        "--no-write", action="store_true", help="do not append to docs/benchmarks-history.md"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="preau-bench-"))
    pg = Postgres(Path(args.pgdata))
    pg.start()
    server = None
    try:
        os.environ.update(
            PREAU_CONFIG=str(write_config(pg, tmp)), DJANGO_SETTINGS_MODULE="preau.settings"
        )
        manage("migrate", "--noinput")
        manage("collectstatic", "--noinput")
        started = time.perf_counter()
        seeded = json.loads(
            manage(
                "seed_bench",
                "--establishments",
                str(args.establishments),
                "--students",
                str(args.students),
                "--json",
            )
        )
        print(
            f"data set ready in {time.perf_counter() - started:.0f} s: {seeded['users']} accounts",
            flush=True,
        )
        sessions = tmp / "sessions.tsv"
        counts = open_sessions(sessions, SAMPLE)
        port = free_port()
        log = open(tmp / "gunicorn.log", "w")
        # Access lines (one JSON line per request) go to /dev/null; errors to gunicorn.log.
        os.environ["PREAU_LOG_STREAM"] = "stderr"
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "-c",
                "python:preau.gunicorn_conf",
                "preau.wsgi",
                "--workers",
                str(args.workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--backlog",
                "2048",
                "--timeout",
                "60",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=os.environ,
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        wrk(url, sessions, 16, 10)  # warm-up: connections, caches, PostgreSQL buffers
        load_before = os.getloadavg()[0]
        # capacity: about one connection per worker (no queueing); nominal: the sessions' mix at
        # --connections; overload: far beyond capacity (load shedding must keep it standing).
        runs = {
            "capacity": wrk(url, sessions, args.workers + 2, args.duration),
            "nominal": wrk(url, sessions, args.connections, args.duration),
            "overload": wrk(url, sessions, args.overload_connections, args.overload_duration),
        }
        load = (load_before, os.getloadavg()[0])
        for name, result in runs.items():
            print(name, json.dumps(result), flush=True)
            if any(
                str(status).startswith("5") and status not in ("503",)
                for status in result["statuses"]
            ):
                print((tmp / "gunicorn.log").read_text()[-3000:])
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM ent_grade), (SELECT count(*) FROM ent_absence), "
                "(SELECT count(*) FROM ent_message), (SELECT count(*) FROM core_user)"
            )
            grades, absences, messages, users = cursor.fetchone()
        data = (
            f"{args.establishments} establishments, {users} accounts, {grades} grades, {absences} absences, "
            f"{messages} messages (seed_bench --students {args.students})"
        )
        text = report(args, counts, data, runs, machine(), load)
        print(text)
        if not args.no_write:
            previous = (
                RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Préau benchmarks\n"
            )
            RESULTS.write_text(previous.rstrip() + "\n\n" + text, encoding="utf-8")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
