#!/usr/bin/env python3
"""Memory of a web worker, measured in-process: prints one JSON object.

    python scripts/measure_memory.py                       # its own PostgreSQL, 1 collège
    python scripts/measure_memory.py --pgdata /var/tmp/x --src /tmp/previous/src

A fresh Python process loads the app the way gunicorn's master does before it forks its workers
(`preload_app`: `import preau.wsgi`, then the collection and freeze of gunicorn_conf.when_ready),
then serves, through Django's test client, the first request of each page of the realistic mix
(scripts/bench_sessions.py's URLs: dashboard, grades, logbook, messages, documents and a
download, timetable, absences, roll call and its save, news), the login form and a login.
After each step it reads /proc/self/smaps_rollup:

- `rss_mb`: what `ps` and BENCHMARKS.md's `memory_worker` row show (pages shared with the
  master counted in full in every worker);
- `pss_mb`: the proportional share (shared pages divided among the processes sharing them);
- `uss_mb`: the private pages only (Private_Clean + Private_Dirty): what one more worker costs.

In this lone process nothing is shared with a master, so PSS ≈ USS ≈ RSS minus the shared
libraries' pages; in a gunicorn worker the `app_loaded` part is shared with the master. `pages`
says what each page's first request added (a module imported at that point, a cache filled), and
`heavy_modules` which of the costly libraries were imported by the end: one that only a job or a
rare page needs should not be there.

Like scripts/benchmark_cpu.py it starts its own PostgreSQL (`--pgdata`, kept between runs) and
seeds the benchmark data set (`seed_bench`, one collège of 600 pupils by default: memory does
not grow with the data set's size, only with the code).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The libraries that cost megabytes once imported (measured: reportlab ~11 MB, pysaml2 ~28 to
# 50 MB with xmlschema, pillow_heif ~7 MB, qrcode ~5 MB, icalendar ~4 MB, lxml ~4 MB).
HEAVY = (
    "reportlab",
    "saml2",
    "xmlschema",
    "openpyxl",
    "PIL",
    "pillow_heif",
    "qrcode",
    "icalendar",
    "lxml",
    "defusedxml",
    "cryptography",
)
# One session per profile is enough: a page's first request is what loads its code.
SAMPLE = {"ELV": 1, "TUT": 1, "ENS": 3, "EVS+DIR": 2}
CSRF_COOKIE = "benchcsrftokenbenchcsrftoken0123"  # as scripts/load_mix.lua sends it


def memory() -> dict:
    """RSS, PSS and USS of this process in MB (/proc/self/smaps_rollup, kB)."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, value = line.partition(":")
        fields[name] = int(value.split()[0])
    uss = fields["Private_Clean"] + fields["Private_Dirty"]
    return {
        "rss_mb": round(fields["Rss"] / 1024, 1),
        "pss_mb": round(fields["Pss"] / 1024, 1),
        "uss_mb": round(uss / 1024, 1),
    }


def measure(sessions: Path) -> dict:
    """The child's work: load the app as gunicorn's master does (preau.wsgi, then
    gunicorn_conf.when_ready), fork a worker, and in it serve one request per page."""
    master = {"start": memory()}
    import preau.wsgi  # noqa: F401 (what preload_app imports)
    from preau import gunicorn_conf

    gunicorn_conf.when_ready(types.SimpleNamespace(cfg=types.SimpleNamespace(is_ssl=False)))
    master["app_loaded"] = memory()
    master["modules"] = len(sys.modules)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read)
        with os.fdopen(write, "w") as out:
            out.write(json.dumps(serve(sessions)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        worker = json.loads(answer.read() or "null")
    _, status = os.waitpid(pid, 0)
    if worker is None or status:
        raise SystemExit(f"the worker failed (wait status {status})")
    master["while_worker_ran"] = memory()
    return {"master": master, "worker": worker}


def serve(sessions: Path) -> dict:
    """In the forked worker: the first request of each page, what each one added to RSS."""
    result = {"forked": memory()}
    from django.db import close_old_connections
    from django.test import Client
    from django.urls import get_resolver, resolve

    get_resolver().url_patterns  # noqa: B018 (what the first request imports, if not loaded)
    result["urlconf"] = memory()
    client = Client(HTTP_HOST="localhost")
    pages: dict[str, float] = {}
    rows = [line.split("\t") for line in sessions.read_text(encoding="utf-8").splitlines() if line]
    before = memory()["rss_mb"]

    def served(name: str, response) -> None:
        nonlocal before
        if response.streaming:
            b"".join(response.streaming_content)
        close_old_connections()
        if response.status_code >= 400:
            raise SystemExit(f"{name} → {response.status_code}")
        if name not in pages:
            now = memory()["rss_mb"]
            pages[name] = round(now - before, 1)
            before = now

    served("login page", client.get("/connexion/"))
    for cookie, _username, *urls in rows:
        for url in urls:
            client.cookies.clear()
            client.cookies["sessionid"] = cookie
            client.cookies["csrftoken"] = CSRF_COOKIE
            close_old_connections()
            if url.startswith("POST:"):
                path, form = url[len("POST:") :].split("|", 1)
                data = dict(parse_qsl(form), csrfmiddlewaretoken=CSRF_COOKIE)
                response = client.post(path, data)
                name = resolve(path.split("?")[0]).url_name + " (POST)"
            else:
                response = client.get(url)
                name = resolve(url.split("?")[0]).url_name
            served(name, response)
    from preau.ent.management.commands.seed_bench import BENCH_PASSWORD

    client.cookies.clear()
    login = {"username": rows[0][1], "password": BENCH_PASSWORD}
    served("login", client.post("/connexion/", login))
    gc.collect()
    result["after_pages"] = memory()
    result["pages"] = pages
    result["heavy_modules"] = sorted(name for name in HEAVY if name in sys.modules)
    result["modules"] = len(sys.modules)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pgdata", default="/var/tmp/preau-memory-pg")
    parser.add_argument("--establishments", type=int, default=1)
    parser.add_argument("--src", help="measure another copy of the code (its src/ directory)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the sessions file: measure
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
        os.environ["PYTHONPATH"] = args.src + os.pathsep + os.environ.get("PYTHONPATH", "")
    if args.child:
        print(json.dumps(measure(Path(args.child))))
        return

    from benchmark_load import Postgres, open_sessions, prepare

    tmp = Path(tempfile.mkdtemp(prefix="preau-memory-"))
    pg = Postgres(Path(args.pgdata))
    pg.start()
    try:
        prepare(pg, tmp, args.establishments)
        sessions = tmp / "sessions.tsv"
        open_sessions(sessions, SAMPLE)
        # A fresh process: this one has imported Django and the models to write the sessions.
        child = [sys.executable, __file__, "--child", str(sessions)]
        if args.src:
            child += ["--src", args.src]
        out = subprocess.run(child, capture_output=True, text=True, env=os.environ)
        if out.returncode:
            raise SystemExit(f"measure failed (exit {out.returncode}):\n{out.stderr}")
        print(out.stdout.strip().splitlines()[-1])
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
