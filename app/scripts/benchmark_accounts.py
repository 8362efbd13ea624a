#!/usr/bin/env python3
"""Benchmark of issue #19's two targets on a collège of N pupils (600 by default), imported from
a generated AAF feed into a throwaway PostgreSQL 15 (like the test suite; PREAU_TEST_DATABASE_URL
to use another), in-process: prints a JSON report.

    python scripts/benchmark_accounts.py                  # 600 pupils
    python scripts/benchmark_accounts.py --students 900 --searches 400

- Activation letters (target ≤ 30 s): every pupil's letter, as the directory's « Lettres
  d'activation » asks for them: the batch chosen (preau.ent.letters.create_batch, the web
  request's part) then made (letters.make, the make_letters job's work: codes issued and
  hashed, the PDF rendered and stored). Wall-clock seconds of each and in all.
- Recipient search (target p95 < 50 ms): the compose page with a search
  (`messagerie/nouveau/?q=`), as a teacher (who may write to everyone: the largest set) and as a
  parent (the communication rules narrow it), through Django's test client with a session, the
  queries made of the collège's own names (a prefix, a name without its accents, in capitals,
  first name and last name). Wall-clock milliseconds per request: median, p95, max, and the p95
  of this process's CPU time. The machine and PostgreSQL are shared by both: on a loaded
  machine the wall-clock figures measure the load too (`load_average` is in the report).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_import import throwaway_database  # noqa: E402 (it also puts the app on the path)

LETTERS_TARGET_S = 30
SEARCH_TARGET_P95_MS = 50


def plain(text: str) -> str:
    """Without accents, lower case: how a hurried user types a name."""
    return "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
    ).lower()


def search_terms(users, rng: random.Random) -> list[str]:
    """Queries from the establishment's own names, in the forms a user types them."""
    terms = []
    for user in users:
        last, first = user.last_name, user.first_name
        terms += [plain(last)[:3], plain(last), last.upper(), f"{first} {last}"]
    rng.shuffle(terms)
    return terms


def letters(est) -> dict:
    """Every pupil's activation letter: the batch (the request's part) then the job's work."""
    from preau.ent import letters as module

    start = time.perf_counter()
    batch = module.create_batch(
        est, profile="ELV", by="bench", site_url="https://ent.example.fr", background=False
    )
    chosen = time.perf_counter() - start
    start = time.perf_counter()
    made = module.make(batch.pk)
    job = time.perf_counter() - start
    batch.refresh_from_db()
    return {
        "letters": made["letters"],
        "request_s": round(chosen, 2),
        "job_s": round(job, 2),
        "total_s": round(chosen + job, 2),
        "pdf_kb": round(batch.file.size / 1024) if batch.file else 0,
        "target_s": LETTERS_TARGET_S,
        "ok": chosen + job <= LETTERS_TARGET_S,
    }


def searches(est, user, terms: list[str], count: int, warmup: int) -> dict:
    """`count` searches of the compose page as `user` (after `warmup` unmeasured ones)."""
    from django.test import Client
    from django.urls import reverse

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    page = reverse("message_new", kwargs={"uai": est.uai})
    times, cpu, found = [], [], 0
    for n in range(warmup + count):
        query = terms[n % len(terms)]
        start, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(page, {"q": query})
        spent, spent_cpu = time.perf_counter() - start, time.process_time() - started_cpu
        if response.status_code != 200:
            raise SystemExit(f"{page}?q={query} → {response.status_code}")
        if n >= warmup:
            times.append(1000 * spent)
            cpu.append(1000 * spent_cpu)
            found += b'name="recipients"' in response.content
    return {
        "searches": len(times),
        "with_results": found,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95(times), 1),
        "max_ms": round(max(times), 1),
        # This process's CPU alone (PostgreSQL's excluded): what the load does not inflate.
        "app_cpu_p95_ms": round(p95(cpu), 1),
    }


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=600)
    parser.add_argument("--searches", type=int, default=200, help="per profile")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    with throwaway_database():
        from preau.core import importer
        from preau.core.generator import generate
        from preau.core.models import Establishment, Membership, User

        est, _ = Establishment.objects.get_or_create(
            uai="0820021C", defaults={"name": "Collège Jean Moulin", "town": "Montauban"}
        )
        with tempfile.TemporaryDirectory() as tmp:
            importer.import_aaf(est, generate(tmp, args.students)["files"])
        members = Membership.objects.of(est)
        rng = random.Random(args.seed)
        people = list(User.objects.filter(memberships__establishment=est).order_by("pk"))
        terms = search_terms(rng.sample(people, min(60, len(people))), rng)
        teacher = members.filter(profile="ENS", is_local_admin=False).first().user
        parent = members.filter(profile="TUT").first().user
        report = {
            "students": args.students,
            "accounts": members.count(),
            "by_profile": {
                p: members.filter(profile=p).count() for p in ("ELV", "TUT", "ENS", "EVS", "DIR")
            },
            "load_average": round(os.getloadavg()[0], 2),
            "letters": letters(est),
            "recipient_search": {
                "teacher": searches(est, teacher, terms, args.searches, args.warmup),
                "parent": searches(est, parent, terms, args.searches, args.warmup),
                "target_p95_ms": SEARCH_TARGET_P95_MS,
            },
        }
        search = report["recipient_search"]
        search["ok"] = max(search["teacher"]["p95_ms"], search["parent"]["p95_ms"]) < (
            SEARCH_TARGET_P95_MS
        )
        report["ok"] = report["letters"]["ok"] and search["ok"]
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
