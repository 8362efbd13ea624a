#!/usr/bin/env python3
"""Application CPU per request, measured in-process (no gunicorn, no wrk, no network).

    python scripts/benchmark_cpu.py                      # 1,500 requests of the load mix
    python scripts/benchmark_cpu.py --requests 3000 --profile 25
    python scripts/benchmark_cpu.py --establishments 80 --pgdata /var/tmp/x --json

On a shared machine the wall-clock numbers of the load benchmark mostly measure the other
tenants; the process CPU time of this process (time.process_time) does not: it is the work the
app does for a page, PostgreSQL's own share excluded. It uses the load benchmark's data set and
mix (scripts/benchmark_load.py: same PostgreSQL data directory, same sessions, a login every 100
requests), sends the requests through Django's test client in one process, and prints per view:
requests, mean CPU ms and mean SQL queries, then the whole mix, and the CPU that PostgreSQL's
backend spent on it (read from /proc: PostgreSQL runs on the same machine). --profile N prints cProfile's top
N functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_load import Postgres, open_sessions, prepare  # noqa: E402

# The load benchmark's proportions (1,500 / 1,500 / 300 / 60), scaled down.
SAMPLE = {"ELV": 250, "TUT": 250, "ENS": 50, "EVS+DIR": 10}


CSRF_COOKIE = "benchcsrftokenbenchcsrftoken0123"  # scripts/load_mix.lua's csrf_token


def requests_of(sessions: Path, count: int, login_every: int, seed: int) -> list[tuple]:
    """(cookie, username, url or None for a login) like scripts/load_mix.lua picks them."""
    rows = [line.split("\t") for line in sessions.read_text(encoding="utf-8").splitlines() if line]
    rng = random.Random(seed)
    picked = []
    for n in range(1, count + 1):
        cookie, username, *urls = rng.choice(rows)
        picked.append((cookie, username, None if n % login_every == 0 else rng.choice(urls)))
    return picked


def run(picked: list[tuple], password: str, show_queries: bool = False) -> dict:
    """Each request as gunicorn serves it to wrk: one handler (middleware loaded once, as in a
    worker), the session and CSRF cookies sent (as scripts/load_mix.lua does), the connection checks a
    WSGI server's request_started/request_finished signals trigger (the test client turns them
    off), streamed file contents read to the end."""
    from django.db import close_old_connections, connection
    from django.test import Client
    from django.urls import resolve

    stats: dict[str, list[float]] = {}
    queries = {"n": 0}

    shown: set[str] = set()
    statements: list[str] = []

    def count(execute, sql, params, many, context):
        queries["n"] += 1
        if show_queries:
            statements.append(sql)
        return execute(sql, params, many, context)

    client = Client(HTTP_HOST="localhost")
    connection.ensure_connection()
    backend_before = backend_cpu(connection)
    with connection.execute_wrapper(count):
        for cookie, username, url in picked:
            queries["n"] = 0
            client.cookies.clear()
            if url is None:
                started = time.process_time()
                close_old_connections()
                response = client.post("/connexion/", {"username": username, "password": password})
                view = "login"
            else:
                client.cookies["sessionid"] = cookie
                client.cookies["csrftoken"] = CSRF_COOKIE  # as scripts/load_mix.lua sends it
                method, path, form = "GET", url, ""
                if url.startswith("POST:"):  # a form's save, as load_mix.lua posts it
                    method, (path, form) = "POST", url[len("POST:") :].split("|", 1)
                started = time.process_time()
                close_old_connections()
                if method == "POST":
                    data = dict(parse_qsl(form), csrfmiddlewaretoken=CSRF_COOKIE)
                    response = client.post(path, data)
                else:
                    response = client.get(path)
                view = resolve(path.split("?")[0]).url_name + (
                    " (POST)" if method == "POST" else ""
                )
            if response.streaming:
                b"".join(response.streaming_content)
            close_old_connections()
            spent = time.process_time() - started
            if response.status_code >= 400:
                raise SystemExit(f"{url or 'login'} → {response.status_code}")
            if show_queries and view not in shown:
                shown.add(view)
                print(f"\n## {view}: {url or 'login'} ({len(statements)} queries)")
                print("\n".join(f"{n}. {sql}" for n, sql in enumerate(statements, 1)))
            statements.clear()
            stats.setdefault(view, []).extend([spent, queries["n"]])
    stats["_postgres_cpu"] = backend_cpu(connection) - backend_before
    return stats


def backend_cpu(connection) -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (same machine)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table(stats: dict) -> str:
    """Per view: requests, mean and median CPU ms, mean SQL queries; then the mix with and
    without the logins (one in 100 requests, ≈ 0.2 s of Argon2 each: they weigh heavily in a
    mean)."""
    stats = dict(stats)
    postgres = stats.pop("_postgres_cpu", None)
    lines = [
        "| view | requests | CPU ms / request (mean) | median | SQL queries / request |",
        "|---|---|---|---|---|",
    ]
    for view, values in sorted(stats.items(), key=lambda kv: -len(kv[1])):
        cpu, sql = values[0::2], values[1::2]
        lines.append(
            f"| {view} | {len(cpu)} | {1000 * sum(cpu) / len(cpu):.1f} | "
            f"{1000 * statistics.median(cpu):.1f} | {sum(sql) / len(sql):.1f} |"
        )
    for label, views in (
        ("mix", stats),
        ("mix without logins", {k: v for k, v in stats.items() if k != "login"}),
    ):
        cpu = [c for values in views.values() for c in values[0::2]]
        sql = [q for values in views.values() for q in values[1::2]]
        lines.append(
            f"| **{label}** | {len(cpu)} | **{1000 * sum(cpu) / len(cpu):.2f}** | "
            f"{1000 * statistics.median(cpu):.1f} | **{sum(sql) / len(sql):.1f}** |"
        )
    if postgres is not None:
        total = sum(len(values) // 2 for values in stats.values())
        lines.append(
            f"\nPostgreSQL backend CPU: {1000 * postgres / total:.1f} ms per request (whole mix)"
        )
    return "\n".join(lines)


def summary(stats: dict, connection) -> dict:
    """The whole mix's figures (ms per request: application, PostgreSQL; SQL queries) and the
    data set's size, for a machine to read."""
    from preau.core.models import Establishment, User

    views = {k: v for k, v in stats.items() if k != "_postgres_cpu"}
    cpu = [c for values in views.values() for c in values[0::2]]
    sql = [q for values in views.values() for q in values[1::2]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
    return {
        "establishments": Establishment.objects.filter(uai__startswith="0825").count(),
        "accounts": User.objects.count(),
        "database_mb": round(size / 2**20),
        "requests": len(cpu),
        "app_ms": round(1000 * sum(cpu) / len(cpu), 2),
        "postgres_ms": round(1000 * stats["_postgres_cpu"] / len(cpu), 2),
        "queries": round(sum(sql) / len(sql), 2),
    }


def same_hashing_as_the_code() -> None:
    """The data set's one password hash (seed_bench), made again if the measured code (--src)
    hashes with other parameters: its logins would otherwise re-hash, and so end, the open
    sessions of the users they log in."""
    import django

    django.setup()
    from django.contrib.auth.hashers import identify_hasher, make_password

    from preau.core.models import User
    from preau.ent.management.commands.seed_bench import BENCH_PASSWORD

    bench = User.objects.filter(memberships__establishment__uai__startswith="0825")
    current = bench.values_list("password", flat=True).first()
    if current and identify_hasher(current).must_update(current):
        User.objects.filter(pk__in=bench.values("pk")).update(
            password=make_password(BENCH_PASSWORD)
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--login-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--profile", type=int, default=0, help="print the N most expensive functions"
    )
    parser.add_argument(
        "--show-queries",
        action="store_true",
        help="print the SQL of the first request of each view",
    )
    parser.add_argument("--pgdata", default="/var/tmp/preau-bench-pg")
    parser.add_argument(
        "--establishments",
        type=int,
        default=20,
        help="seed_bench's establishments (600 students each): a data set with fewer is "
        "completed, never shrunk",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="also print the whole mix's figures as one JSON line (deploy.py bench's "
        "cost_growth row reads it)",
    )
    parser.add_argument(
        "--user-cache-seconds",
        type=int,
        default=None,
        help="override PREAU_USER_CACHE_SECONDS (0: measure without the per-user cache)",
    )
    parser.add_argument(
        "--src",
        help="measure another copy of the code (its src/ directory), e.g. a "
        "`git archive` of the previous commit",
    )
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
        os.environ["PYTHONPATH"] = args.src + os.pathsep + os.environ.get("PYTHONPATH", "")

    tmp = Path(tempfile.mkdtemp(prefix="preau-cpu-"))
    pg = Postgres(Path(args.pgdata))
    pg.start()
    try:
        prepare(pg, tmp, args.establishments)
        sessions = tmp / "sessions.tsv"
        same_hashing_as_the_code()
        open_sessions(sessions, SAMPLE)
        import logging

        # The access log is written as in the load benchmark (gunicorn's stdout to /dev/null).
        devnull = open(os.devnull, "w")  # noqa: SIM115 (for the whole run)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(devnull)
        from django.conf import settings

        if args.user_cache_seconds is not None:
            settings.PREAU_USER_CACHE_SECONDS = args.user_cache_seconds
        import preau

        print(
            f"code: {Path(preau.__file__).parent}, per-user cache: "
            f"{getattr(settings, 'PREAU_USER_CACHE_SECONDS', 0)} s"
        )
        from django.db import connection

        from preau.ent.management.commands.seed_bench import BENCH_PASSWORD

        # One PostgreSQL backend for the whole run, so that its CPU can be read (a worker
        # reconnects every CONN_MAX_AGE seconds: a few ms a minute, left out).
        connection.settings_dict["CONN_MAX_AGE"] = None
        connection.close()

        run(requests_of(sessions, args.warmup, args.login_every, args.seed + 1), BENCH_PASSWORD)
        picked = requests_of(sessions, args.requests, args.login_every, args.seed)
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        load = os.getloadavg()[0]
        if profiler:
            profiler.enable()
        stats = run(picked, BENCH_PASSWORD, args.show_queries)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
            profiler.dump_stats(tmp.parent / "preau-cpu.prof")
            print(f"profile saved to {tmp.parent / 'preau-cpu.prof'}")
        print(f"load average (1 min) at start: {load:.1f}")
        print(table(stats))
        if args.json:
            print(json.dumps(summary(stats, connection)))
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
