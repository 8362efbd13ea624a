"""A département-sized data set for the load benchmark (scripts/benchmark_load.py): N collèges
imported from generated AAF feeds, then a school year's worth of service data. Never in
production: every account gets the same password."""

import datetime as dt
import random
import tempfile

from django.contrib.auth.hashers import identify_hasher, make_password
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from preau.attendance.models import Absence
from preau.core import importer
from preau.core.generator import generate
from preau.core.management.base import OpsCommand
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Establishment,
    Membership,
    ParentLink,
    Platform,
    TeachingAssignment,
    User,
)
from preau.core.uai import check_letter
from preau.documents.models import Document
from preau.ent import files
from preau.ent.models import Notification
from preau.grades.models import Assessment, Grade
from preau.logbook.models import Homework, LogbookEntry
from preau.messaging.models import Conversation, Message, Participant
from preau.news.models import NewsItem
from preau.timetable.models import TimetableSlot

BENCH_PASSWORD = "bench-preau-2026"
BATCH = 5000


def bench_uai(n: int) -> str:
    first7 = f"082{5000 + n:04d}"
    return first7 + check_letter(first7)


def refresh_bench_password(users, password: str) -> int:
    """A data set seeded under other hashing parameters gets the current ones (one hash for all),
    so that the benchmark's logins verify the hash the platform would store, and do not re-hash
    it (which would end the benchmark's open sessions of that user)."""
    current = users.values_list("password", flat=True).first()
    if current is None or not identify_hasher(current).must_update(current):
        return 0
    return User.objects.filter(pk__in=users.values("pk")).update(password=password)


class Command(OpsCommand):
    refused_in_production = True
    help = (
        "Load-benchmark data set: N establishments of S students each, with a year of service data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--establishments", type=int, default=20)
        parser.add_argument("--students", type=int, default=600, help="students per establishment")
        parser.add_argument("--seed", type=int, default=1)

    def run(self, establishments=20, students=600, seed=1, dry_run=False, **_):
        password = make_password(
            BENCH_PASSWORD
        )  # one hash for all: hashing 38,000 would take an hour
        rng = random.Random(seed)
        totals: dict[str, int] = {}
        for n in range(establishments):
            with transaction.atomic():
                uai = bench_uai(n)
                est, created = Establishment.objects.get_or_create(
                    uai=uai, defaults={"name": f"Collège Bench {n + 1}", "town": "Montauban"}
                )
                if created:
                    with tempfile.TemporaryDirectory() as tmp:
                        importer.import_aaf(
                            est, generate(tmp, students, uai=uai, name=est.name, seed=seed)["files"]
                        )
                    User.objects.filter(memberships__establishment=est).update(password=password)
                    for key, value in self.services(est, rng).items():
                        totals[key] = totals.get(key, 0) + value
                if dry_run:
                    transaction.set_rollback(True)
        users = User.objects.filter(memberships__establishment__uai__startswith="0825").distinct()
        if not dry_run:
            refresh_bench_password(users, password)
        return {
            "dry_run": dry_run,
            "password": BENCH_PASSWORD,
            "establishments": establishments,
            "users": users.count(),
            "created": totals,
        }

    def services(self, est, rng) -> dict:  # noqa: PLR0912 (one pass per service; splitting it would reorder the random draws the bench data set depends on)
        year = Platform.current_school_year()
        today = timezone.localdate()
        now = timezone.now()
        classes = list(ClassGroup.objects.filter(establishment=est, kind="class", school_year=year))
        students_by_class: dict[int, list[int]] = {}
        pupils = set(
            Membership.objects.filter(establishment=est, profile="ELV").values_list(
                "user_id", flat=True
            )
        )
        for class_id, user_id in ClassMembership.objects.filter(
            class_group__in=classes
        ).values_list("class_group_id", "user_id"):
            if user_id in pupils:
                students_by_class.setdefault(class_id, []).append(user_id)
        teachings = list(
            TeachingAssignment.objects.filter(establishment=est, class_group__in=classes)
        )
        staff = list(
            Membership.objects.filter(establishment=est, profile__in=["DIR", "EVS"]).values_list(
                "user_id", flat=True
            )
        )

        def common(t: TeachingAssignment) -> dict[str, object]:
            return {
                "establishment": est,
                "class_group_id": t.class_group_id,
                "subject_id": t.subject_id,
                "teacher_id": t.teacher_id,
            }

        slots, assessments, entries = [], [], []
        free = {
            c.pk: [(d, h) for d in range(1, 6) for h in (8, 9, 10, 11, 14, 15, 16)] for c in classes
        }
        for t in teachings:
            for _ in range(3):
                if free[t.class_group_id]:
                    day, hour = free[t.class_group_id].pop(
                        rng.randrange(len(free[t.class_group_id]))
                    )
                    slots.append(
                        TimetableSlot(
                            establishment=est,
                            class_group_id=t.class_group_id,
                            subject_id=t.subject_id,
                            teacher_id=t.teacher_id,
                            weekday=day,
                            start=dt.time(hour),
                            end=dt.time(hour + 1),
                            room=f"S{rng.randrange(1, 40)}",
                        )
                    )
            for k in range(3):
                assessments.append(
                    Assessment(
                        title=f"Évaluation {k + 1}",
                        date=today - dt.timedelta(days=7 * k + 2),
                        coefficient=rng.choice([1, 1, 2]),
                        **common(t),
                    )
                )
            for k in range(4):
                entries.append(
                    LogbookEntry(
                        date=today - dt.timedelta(days=3 * k),
                        title=f"Séance {k + 1}",
                        content="Contenu de la séance.",
                        **common(t),
                    )
                )
        TimetableSlot.objects.bulk_create(slots, batch_size=BATCH)
        Assessment.objects.bulk_create(assessments, batch_size=BATCH)
        LogbookEntry.objects.bulk_create(entries, batch_size=BATCH)
        grades = [
            Grade(assessment=a, student_id=s, value=rng.randrange(4, 41) / 2, updated_at=now)
            for a in assessments
            for s in students_by_class.get(a.class_group_id, [])
        ]
        Grade.objects.bulk_create(grades, batch_size=BATCH)
        homework = [
            Homework(
                entry=e,
                assigned_on=e.date,
                due_on=today + dt.timedelta(days=rng.randrange(0, 8)),
                description="Exercices du manuel.",
                hand_in=rng.random() < 0.2,
                establishment=est,
                class_group_id=e.class_group_id,
                subject_id=e.subject_id,
                teacher_id=e.teacher_id,
            )
            for e in entries[::2]
        ]
        Homework.objects.bulk_create(homework, batch_size=BATCH)

        absences = []
        for class_id, ids in students_by_class.items():
            for s in ids:
                for k in range(2):
                    absences.append(
                        Absence(
                            establishment=est,
                            student_id=s,
                            class_group_id=class_id,
                            date=today - dt.timedelta(days=rng.randrange(1, 60)),
                            start=dt.time(rng.choice([8, 9, 10, 14, 15]), 0, k),
                            status=rng.choice(["unjustified", "submitted", "accepted", "accepted"]),
                        )
                    )
        Absence.objects.bulk_create(absences, batch_size=BATCH, ignore_conflicts=True)

        # One 100 kB file per collège, shared by its documents: downloads stream realistic sizes.
        stored = files.store(
            est, SimpleUploadedFile("cours.pdf", b"%PDF-1.4\n" + rng.randbytes(100_000)), None
        )
        documents = []
        for t in teachings[::2]:
            documents.append(
                Document(
                    establishment=est,
                    class_group_id=t.class_group_id,
                    subject_id=t.subject_id,
                    title="Fiche de cours",
                    file=stored,
                    author_id=t.teacher_id,
                )
            )
        Document.objects.bulk_create(documents, batch_size=BATCH)

        teacher_of: dict[int, list[int]] = {}
        for t in teachings:
            teacher_of.setdefault(t.class_group_id, []).append(t.teacher_id)
        parents = dict(
            ParentLink.objects.filter(establishment=est).values_list("child_id", "parent_id")
        )
        conversations, pairs = [], []
        for class_id, ids in students_by_class.items():
            for s in ids:
                if not teacher_of.get(class_id):
                    continue
                teacher = rng.choice(teacher_of[class_id])
                conversations.append(
                    Conversation(
                        establishment=est,
                        subject="Question sur le cours",
                        created_by_id=s,
                        last_message_at=now,
                    )
                )
                pairs.append((s, teacher, parents.get(s)))
        Conversation.objects.bulk_create(conversations, batch_size=BATCH)
        participants, messages = [], []
        for conversation, (s, teacher, parent) in zip(conversations, pairs, strict=True):
            for user_id in {s, teacher, parent} - {None}:
                participants.append(Participant(conversation=conversation, user_id=user_id))
            messages.append(
                Message(conversation=conversation, author_id=s, body="Bonjour, j'ai une question.")
            )
            messages.append(
                Message(
                    conversation=conversation, author_id=teacher, body="Bonjour, voici la réponse."
                )
            )
        Participant.objects.bulk_create(participants, batch_size=BATCH)
        Message.objects.bulk_create(messages, batch_size=BATCH)
        NewsItem.objects.bulk_create(
            [
                NewsItem(
                    establishment=est,
                    title=f"Information {k + 1}",
                    body="Texte.",
                    author_id=staff[0] if staff else None,
                )
                for k in range(8)
            ]
        )
        Notification.objects.bulk_create(
            [
                Notification(establishment=est, user_id=s, text="Nouvelle note", delivered_at=now)
                for ids in students_by_class.values()
                for s in ids
            ],
            batch_size=BATCH,
        )
        return {
            "grades": len(grades),
            "absences": len(absences),
            "homework": len(homework),
            "conversations": len(conversations),
            "documents": len(documents),
            "slots": len(slots),
        }

    def render(self, r):
        return (
            f"{r['establishments']} établissements, {r['users']} comptes (mot de passe « {r['password']} ») ; "
            f"créé : {r['created']}"
        )
