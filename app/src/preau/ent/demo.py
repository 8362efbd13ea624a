"""Demo content for the demo logins (seed_demo): absences, grades, homework, messages,
documents, news, a shared space, links and a timetable, dated around today."""

from __future__ import annotations

import datetime as dt
import random

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from preau.attendance.models import Absence
from preau.core.models import ClassMembership, Membership
from preau.documents.models import Document
from preau.ent import files
from preau.ent.models import Notification
from preau.grades.models import Assessment, Grade
from preau.logbook.models import Homework, LogbookEntry
from preau.messaging.models import Conversation, Message, Participant
from preau.news.models import NewsItem, ResourceLink
from preau.spaces.models import SpacePost
from preau.timetable.models import TimetableSlot

MARKER = "Bienvenue sur Préau"
TIMETABLE = [  # weekday, start, end, subject label, room, by the demo teacher
    (1, 8, 9, "Mathématiques", "B12", True),
    (1, 9, 10, "Français", "A03", False),
    (1, 10, 11, "Histoire-géographie", "A05", False),
    (1, 14, 15, "Anglais", "C01", False),
    (2, 8, 9, "SVT", "Labo 1", False),
    (2, 10, 11, "Mathématiques", "B12", True),
    (2, 13, 15, "EPS", "Gymnase", False),
    (3, 8, 9, "Français", "A03", False),
    (3, 9, 10, "Mathématiques", "B12", True),
    (3, 10, 12, "Technologie", "T02", False),
    (4, 8, 9, "Physique-chimie", "Labo 2", False),
    (4, 9, 10, "Anglais", "C01", False),
    (4, 14, 15, "Arts plastiques", "D01", False),
    (5, 8, 9, "Mathématiques", "B12", True),
    (5, 9, 10, "Français", "A03", False),
    (5, 10, 11, "Éducation musicale", "D02", False),
]


def _pdf(title: str) -> SimpleUploadedFile:
    body = f"%PDF-1.4\n% {title}\n".encode()
    return SimpleUploadedFile(
        f"{title.lower().replace(' ', '-')}.pdf", body, content_type="application/pdf"
    )


def _previous_school_day(day: dt.date, back: int) -> dt.date:
    while back:
        day -= dt.timedelta(days=1)
        if day.weekday() < 5:
            back -= 1
    return day


def seed_services(est, users: dict, klass, subject) -> dict:
    """Create the demo content once (idempotent: skipped when it is already there)."""
    if NewsItem.objects.filter(establishment=est, title=MARKER).exists():
        return {"created": False}
    rng = random.Random(2026)
    today = timezone.localdate()
    now = timezone.now()
    prof, eleve, parent = users["demo.prof"], users["demo.eleve"], users["demo.parent"]
    vs, direction = users["demo.viescolaire"], users["demo.direction"]
    pupils = Membership.objects.filter(establishment=est, profile="ELV").values("user_id")
    students = [
        cm.user
        for cm in ClassMembership.objects.filter(
            class_group=klass, user_id__in=pupils
        ).select_related("user")
    ]
    common = {"establishment": est, "class_group": klass, "subject": subject, "teacher": prof}

    TimetableSlot.objects.bulk_create(
        [
            TimetableSlot(
                establishment=est,
                class_group=klass,
                weekday=day,
                start=dt.time(start),
                end=dt.time(end),
                subject=subject if mine else None,
                teacher=prof if mine else None,
                room=f"{room} ({label})" if not mine else room,
            )
            for day, start, end, label, room, mine in TIMETABLE
        ]
    )

    Absence.objects.create(
        establishment=est,
        student=eleve,
        class_group=klass,
        subject=subject,
        recorded_by=prof,
        date=_previous_school_day(today, 2),
        start=dt.time(10),
    )
    Absence.objects.create(
        establishment=est,
        student=eleve,
        class_group=klass,
        recorded_by=prof,
        date=_previous_school_day(today, 5),
        start=dt.time(8),
        kind="late",
        minutes_late=10,
        status="accepted",
        reason="Bus en retard",
        justified_by=parent,
        validated_by=vs,
    )

    for n, (title, coefficient, scale) in enumerate(
        [("Nombres relatifs", 1, 20), ("Fractions", 2, 20), ("Calcul mental", 0.5, 10)]
    ):
        assessment = Assessment.objects.create(
            title=title,
            date=_previous_school_day(today, 3 + 5 * n),
            coefficient=coefficient,
            scale=scale,
            **common,
        )
        Grade.objects.bulk_create(
            [
                Grade(
                    assessment=assessment,
                    student=s,
                    updated_at=now,
                    value=round(min(scale, max(0, rng.gauss(scale * 0.65, scale * 0.18))) * 2) / 2,
                )
                for s in students
            ]
        )

    entry = LogbookEntry.objects.create(
        date=_previous_school_day(today, 1),
        title="Proportionnalité",
        content="Tableaux de proportionnalité, produit en croix.",
        **common,
    )
    Homework.objects.create(
        entry=entry,
        assigned_on=entry.date,
        due_on=today + dt.timedelta(days=2),
        description="Exercices 12 à 15 page 87.",
        **common,
    )
    Homework.objects.create(
        entry=entry,
        assigned_on=entry.date,
        due_on=today + dt.timedelta(days=5),
        hand_in=True,
        description="Rédiger le problème « la recette de crêpes » et le rendre en PDF.",
        **common,
    )

    document = files.store(est, _pdf("Fiche proportionnalite"), prof)
    Document.objects.create(
        establishment=est,
        class_group=klass,
        subject=subject,
        title="Fiche de cours : proportionnalité",
        description="À imprimer et coller dans le cahier.",
        file=document,
        author=prof,
    )

    for subject_line, author, others, body in [
        (
            "Sortie au musée Ingres",
            parent,
            [prof],
            "Bonjour, Léa pourra-t-elle rejoindre le groupe à 14 h ?",
        ),
        ("Certificat médical", eleve, [vs], "Bonjour, je dépose le certificat demain matin."),
    ]:
        conversation = Conversation.objects.create(
            establishment=est, subject=subject_line, created_by=author
        )
        Participant.objects.bulk_create(
            [
                Participant(
                    conversation=conversation, user=u, last_read_at=None if u != author else now
                )
                for u in [author, *others]
            ]
        )
        Message.objects.create(conversation=conversation, author=author, body=body)
    reply = Conversation.objects.get(establishment=est, subject="Sortie au musée Ingres")
    Message.objects.create(
        conversation=reply, author=prof, body="Bonjour, oui bien sûr, rendez-vous devant l'entrée."
    )

    NewsItem.objects.create(
        establishment=est,
        title=MARKER,
        author=direction,
        body="Votre espace numérique de travail : notes, cahier de textes, messagerie.",
    )
    NewsItem.objects.create(
        establishment=est,
        title="Réunion parents-professeurs des 5e",
        author=direction,
        audience=["TUT", "ENS"],
        body="Jeudi prochain de 17 h à 20 h, salle polyvalente.",
    )
    for title, url in [
        ("Lumni", "https://www.lumni.fr/"),
        ("Dictionnaire Le Robert", "https://dictionnaire.lerobert.com/"),
        ("Géoportail", "https://www.geoportail.gouv.fr/"),
    ]:
        ResourceLink.objects.create(establishment=est, title=title, url=url)
    SpacePost.objects.create(
        establishment=est,
        class_group=klass,
        author=prof,
        title="Exposés du trimestre",
        body="Inscrivez-vous ici : un sujet par binôme.",
    )
    Notification.objects.bulk_create(
        [
            Notification(
                establishment=est,
                user=eleve,
                text="Nouvelle note : Fractions (Mathématiques).",
                delivered_at=now,
            ),
            Notification(
                establishment=est,
                user=parent,
                text="Léa : une absence à justifier.",
                delivered_at=now,
            ),
        ]
    )
    return {"created": True, "students_graded": len(students)}
