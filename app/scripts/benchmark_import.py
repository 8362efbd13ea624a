#!/usr/bin/env python3
"""Benchmark: import a generated AAF feed of N students (≈ 2.6 users per student with parents
and staff) into a throwaway PostgreSQL 15, then re-import it. Prints a JSON report.

    python scripts/benchmark_import.py --students 400      # ≈ 1,000+ users, target ≤ 15 s

Uses PREAU_TEST_DATABASE_URL if set, else starts its own server like the test suite.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(APP), str(APP / "src")]


@contextlib.contextmanager
def throwaway_database():
    """Django set up with the test suite's settings on PREAU_TEST_DATABASE_URL, else on a
    PostgreSQL 15 started as the test suite starts it (and stopped after), migrated. The
    benchmarks of one collège use it (scripts/benchmark_accounts.py too). The app's log lines
    go to stderr: stdout carries the JSON report alone."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("PREAU_LOG_STREAM", "stderr")

    from tests.conftest import _Server

    server = None
    if not os.environ.get("PREAU_TEST_DATABASE_URL"):
        server = _Server()
        server.start()
        os.environ.update(
            PREAU_DATABASE_HOST=str(server.sock),
            PREAU_DATABASE_PORT=str(server.port),
            PREAU_DATABASE_USER="postgres",
            PREAU_DATABASE_NAME="postgres",
        )
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield
    finally:
        if server:
            from django.db import connections

            connections.close_all()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=400)
    args = parser.parse_args()
    with throwaway_database():
        from preau.core import importer
        from preau.core.generator import generate
        from preau.core.models import Establishment, User

        est, _ = Establishment.objects.get_or_create(uai="0820021C", defaults={"name": "Benchmark"})
        with tempfile.TemporaryDirectory() as tmp:
            feed = generate(tmp, args.students)
            start = time.perf_counter()
            first = importer.import_aaf(est, feed["files"])
            first_s = time.perf_counter() - start
            start = time.perf_counter()
            again = importer.import_aaf(est, feed["files"])
            again_s = time.perf_counter() - start
            # And a merge of a second collège of the same size into the first.
            other, _ = Establishment.objects.get_or_create(
                uai="0820010R", defaults={"name": "Benchmark 2"}
            )
            importer.import_aaf(
                other, generate(Path(tmp) / "b", args.students, uai="0820010R")["files"]
            )
            from preau.core.merge import merge

            start = time.perf_counter()
            merged = merge("0820010R", "0820021C")
            merge_s = time.perf_counter() - start
            # The bench's aaf_delta: a delivery of 1,000 changes to a collège of 1,000 pupils.
            from preau.core import delta
            from preau.core.generator import generate_delta

            third, _ = Establishment.objects.get_or_create(
                uai="0820004J", defaults={"name": "Benchmark 3"}
            )
            importer.import_aaf(third, generate(Path(tmp) / "c", 1000, uai="0820004J")["files"])
            made = generate_delta(Path(tmp) / "d", 1000, 1000, uai="0820004J")
            start = time.perf_counter()
            applied = delta.apply_delivery(third, "bench", made["files"])
            delta_s = time.perf_counter() - start
        report = {
            "students": args.students,
            "users": User.objects.count(),
            "merge_s": round(merge_s, 2),
            "aaf_delta_s": round(delta_s, 2),
            "aaf_delta_status": applied["status"],
            "aaf_delta_report": {
                k: applied[k] for k in ("persons_in_feed", "removals", "users", "class_memberships")
            },
            "merge_checks_ok": all(c["ok"] for c in merged["checks"]),
            "first_import_s": round(first_s, 2),
            "reimport_s": round(again_s, 2),
            "created": first["totals"]["created"],
            "reimport_changes": again["totals"],
            "target_s_for_1000_users": 15,
            "ok": first_s <= 15 * max(1, User.objects.count() / 1000),
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
