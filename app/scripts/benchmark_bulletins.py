#!/usr/bin/env python3
"""Benchmark of issue #18's report-card target (the bulletins of a 600-pupil collège in ≤ 60 s,
made by the job): a collège of N pupils (600 by default) imported from a generated AAF feed into
a throwaway PostgreSQL 15 (like the test suite; PREAU_TEST_DATABASE_URL to use another, where a
collège and period already there are reused), one trimester of grades (SUBJECTS subjects ×
ASSESSMENTS assessments per class, a few non-marks, each subject's appreciation and the
council's), then every class's bulletins of that period through the real job mechanism: the
batches asked for as the bulletins page does (preau.grades.bulletins.create_batch: the job
`make_bulletins` deferred), then a worker (`preau-manage jobs worker --once --queue long`, the
preau-worker service's code) in a process of its own runs them. Prints a JSON report:

    python scripts/benchmark_bulletins.py                 # 600 pupils
    python scripts/benchmark_bulletins.py --students 60   # a quick try

- `seconds`: from the first bulletins job started to the last one finished (the queue's
  events): the jobs' time, not the worker's start-up (`worker_s`, wall-clock of its process);
- `pdfs` (one per pupil, and one per class for printing) and their `bytes`;
- `peak_rss_mb`: the peak resident memory of the process that made the PDFs: the worker's
  own or, since the PDF jobs run in a child of the worker (preau.jobs.isolation), the largest
  of those children's (wait4 counts the descendants the worker waited for).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark_import import APP, throwaway_database  # noqa: E402 (it puts the app on the path)

TARGET_S = 60
UAI = "0820021C"
PERIOD = "Trimestre du banc d'essai"
SUBJECTS = 10
ASSESSMENTS = 3  # per subject and class: coefficients 1, 2 and 0.5
WORDS = (
    "Travail sérieux et régulier, des progrès nets ce trimestre.",
    "Des résultats fragiles : il faut revoir les leçons avec méthode.",
    "Bonne participation à l'oral ; l'écrit doit encore gagner en rigueur.",
    "Ensemble satisfaisant, continuez ainsi.",
)


def college(students: int):
    """The benchmark's collège: reused when it has its pupils already, else imported."""
    from preau.core import importer
    from preau.core.generator import generate
    from preau.core.models import Establishment, Membership

    est, _ = Establishment.objects.get_or_create(
        uai=UAI, defaults={"name": "Collège Jean Moulin", "town": "Montauban"}
    )
    if Membership.objects.of(est).filter(profile="ELV").count() < students:
        with tempfile.TemporaryDirectory() as tmp:
            importer.import_aaf(est, generate(tmp, students)["files"])
    return est


def period_with_grades(est, seed: int):
    """The benchmark's period of the current school year, with its grades and appreciations
    (made once: a period already graded is reused)."""
    from preau.core.models import ClassGroup, ClassMembership, Platform, Subject
    from preau.grades.models import Appreciation, Assessment, Grade, Period

    year = Platform.current_school_year()
    period, created = Period.objects.get_or_create(
        establishment=est,
        school_year=year,
        name=PERIOD,
        defaults={"start": dt.date(year, 9, 1), "end": dt.date(year, 11, 30)},
    )
    if (
        not created
        and Assessment.objects.filter(
            establishment=est, date__range=(period.start, period.end)
        ).exists()
    ):
        return period
    rng = random.Random(seed)
    subjects = list(Subject.objects.of(est).order_by("pk")[:SUBJECTS])
    for n in range(len(subjects), SUBJECTS):
        subjects.append(
            Subject.objects.create(establishment=est, code=f"BENCH{n}", label=f"Matière {n + 1}")
        )
    classes = ClassGroup.objects.of(est).filter(school_year=year, kind="class")
    grades, said = [], []
    for class_group in classes:
        pupils = list(
            ClassMembership.objects.filter(class_group=class_group).values_list(
                "user_id", flat=True
            )
        )
        for subject in subjects:
            for n, coefficient in enumerate(("1", "2", "0.5")[:ASSESSMENTS]):
                assessment = Assessment.objects.create(
                    establishment=est,
                    class_group=class_group,
                    subject=subject,
                    title=f"Évaluation {n + 1}",
                    date=period.start + dt.timedelta(days=14 + 25 * n),
                    coefficient=Decimal(coefficient),
                )
                for pupil in pupils:
                    if rng.random() < 0.04:
                        grades.append(
                            Grade(
                                assessment=assessment, student_id=pupil, status="abs", absent=True
                            )
                        )
                    else:
                        value = Decimal(rng.randint(10, 40)) / 2
                        grades.append(Grade(assessment=assessment, student_id=pupil, value=value))
            said += [
                Appreciation(period=period, student_id=p, subject=subject, text=rng.choice(WORDS))
                for p in pupils
            ]
        said += [
            Appreciation(period=period, student_id=p, subject=None, text=rng.choice(WORDS))
            for p in pupils
        ]
    Grade.objects.bulk_create(grades, batch_size=2000)
    Appreciation.objects.bulk_create(said, batch_size=2000)
    return period


def ask_for_bulletins(est, period) -> list:
    """Every class's batch, as the bulletins page's POST asks for it (its job deferred)."""
    from preau.core.models import ClassGroup
    from preau.grades import bulletins

    classes = ClassGroup.objects.of(est).filter(school_year=period.school_year, kind="class")
    return [bulletins.create_batch(est, c, period, by="bench").pk for c in classes.order_by("name")]


def run_worker() -> tuple[float, float]:
    """A worker in a process of its own, until the long jobs' queue is empty: (wall-clock
    seconds, its peak RSS in MB)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(APP), str(APP / "src")])}
    command = [sys.executable, "-m", "preau.manage", "jobs", "worker", "--once"]
    with tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        worker = subprocess.Popen(
            [*command, "--queue", "long"], env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        # wait4: this child's own resource usage (RUSAGE_CHILDREN would take the largest of
        # every child waited for, PostgreSQL's initdb included).
        _, status, usage = os.wait4(worker.pid, 0)
        spent = time.perf_counter() - start
        worker.returncode = os.waitstatus_to_exitcode(status)
        if worker.returncode:
            errors.seek(0)
            tail = " / ".join(errors.read().strip().splitlines()[-3:])
            raise SystemExit(f"the worker failed (exit {worker.returncode}): {tail}")
    return spent, usage.ru_maxrss / 1024  # kB on Linux


def jobs_span(job_ids: list[int]) -> float:
    """Seconds from the first of these jobs started to the last one finished."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(at) FILTER (WHERE type = 'started'), max(at) FILTER (WHERE type = "
            "'succeeded') FROM procrastinate_events WHERE job_id = ANY(%s)",
            [job_ids],
        )
        first, last = cursor.fetchone()
    return (last - first).total_seconds() if first and last else float("nan")


def measure(est, period) -> dict:
    """The bulletins of the period, asked for then made by a worker; the report's figures."""
    return figures(ask_for_bulletins(est, period), *run_worker())


def figures(batch_ids: list[int], worker_s: float, peak_mb: float) -> dict:
    """What the worker made of these batches, and in how long."""
    from preau.ent.models import StoredFile
    from preau.grades.models import Bulletin, BulletinBatch

    batches = list(BulletinBatch.objects.filter(pk__in=batch_ids))
    unmade = [b.pk for b in batches if b.made_at is None]
    files = [b.file_id for b in batches if b.file_id] + list(
        Bulletin.objects.filter(batch_id__in=batch_ids).values_list("file_id", flat=True)
    )
    seconds = jobs_span([b.job_id for b in batches])
    sizes = StoredFile.objects.filter(pk__in=files).values_list("size", flat=True)
    return {
        "classes": len(batches),
        "pupils": sum(b.pupils for b in batches),
        "seconds": round(seconds, 2),
        "worker_s": round(worker_s, 2),
        "pdfs": len(files),
        "bytes": sum(sizes),
        "peak_rss_mb": round(peak_mb),
        "unmade_batches": unmade,
        "target_s": TARGET_S,
        "ok": not unmade and seconds <= TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=600)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    with throwaway_database():
        from preau.grades.models import Grade

        est = college(args.students)
        period = period_with_grades(est, args.seed)
        report = {
            "students": args.students,
            "grades": Grade.objects.filter(assessment__establishment=est).count(),
            "load_average": round(os.getloadavg()[0], 2),
            **measure(est, period),
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
