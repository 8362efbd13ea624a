"""Emploi du temps: the weekly lessons of each class and group.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import ClassGroup, Subject
from preau.ent.models import JobBatch, StoredFile, TenantModel

User = settings.AUTH_USER_MODEL


class Weekday(models.IntegerChoices):
    MONDAY = 1, "Lundi"
    TUESDAY = 2, "Mardi"
    WEDNESDAY = 3, "Mercredi"
    THURSDAY = 4, "Jeudi"
    FRIDAY = 5, "Vendredi"
    SATURDAY = 6, "Samedi"


class WeekParity(models.TextChoices):
    EVERY = "", "Toutes les semaines"
    A = "A", "Semaine A"
    B = "B", "Semaine B"


def parity_of(monday: dt.date) -> str:
    """Whether the week of `monday` is a week A (odd ISO week number) or B (even). The rule is
    the platform's: an establishment whose alternation restarts after the holidays cannot
    set its own calendar of A/B weeks yet (docs/domain.md)."""
    return WeekParity.A if monday.isocalendar().week % 2 else WeekParity.B


def given_in(parity: str) -> models.Q:
    """The lessons of a week of this parity: those of every week and those of its A or B."""
    return models.Q(week_parity="") | models.Q(week_parity=parity)


def cancelled_on(day: dt.date) -> models.Exists:
    """Whether the lesson (the outer query's TimetableSlot) is cancelled on `day`: the roll
    call's "appels non faits" and its reminders leave such a lesson out."""
    return models.Exists(
        LessonChange.objects.filter(slot_id=models.OuterRef("pk"), date=day, cancelled=True)
    )


class TimetableSlot(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(
        Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    teacher = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()
    room = models.CharField(max_length=40, blank=True)
    # "" every week, else only in the weeks A or B (parity_of). Expand migration timetable.0002.
    week_parity = models.CharField(
        max_length=1, blank=True, default="", db_default="", choices=WeekParity.choices
    )

    class Meta:
        db_table = "ent_timetableslot"
        ordering = ["weekday", "start"]
        indexes = [
            models.Index(fields=["establishment", "class_group", "weekday"]),
            models.Index(fields=["teacher", "weekday"]),
        ]


class LessonChange(TenantModel):
    """One lesson of the timetable on one date: cancelled, or given in another room. Shown in the
    grid of that week; its class's pupils, their legal guardians and its teacher are notified.
    Expand migration timetable.0003 (a new table)."""

    slot = models.ForeignKey(TimetableSlot, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    cancelled = models.BooleanField(default=False)
    room = models.CharField(max_length=40, blank=True)  # that day's room; "" = the lesson's own

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slot", "date"], name="timetable_change_once_a_day")
        ]
        indexes = [models.Index(fields=["establishment", "date"])]


class CalendarFeed(models.Model):
    """A user's iCalendar feed (timetable/feed.py): the secret token of its URL, kept only as its
    SHA-256 (a copy of the database gives no readable feed; the token is 256 random bits, so a
    fast hash is enough). Regenerating replaces the hash: the old URL answers 404.
    Expand migration timetable.0004 (a new table)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)


class TimetableImport(JobBatch):
    """A timetable or structure file uploaded by the direction or a local admin and imported by
    a background job (preau.timetable.imports): the file as stored (`source`), its format as
    asked ("" = recognised by the job), and the job's report once it ran (`made_at`): what was
    created or replaced, every refused line. Expand migration timetable.0005 (a new table)."""

    class Format(models.TextChoices):
        AUTO = "", "Reconnu automatiquement"
        CSV = "csv", "CSV séparé par des points-virgules"
        STS = "sts", "STS-Web : structure (sts_emp_….xml)"
        EDT = "edt", "EDT ou UDT : emploi du temps exporté pour STS (XML)"
        # Format "bee": SIECLE's pupils (preau.grades.siecle). Migration timetable.0007
        # (choices only: no change to the table).
        BEE = "bee", "SIECLE : élèves (ElevesSansAdresses.xml), identifiant Base Élèves"

    format = models.CharField(max_length=3, blank=True, choices=Format.choices)
    # The uploaded file; None once [retention] timetable_imports_days passed after the import
    # ran (purge_gone: the report stays, the file goes). Expand migration timetable.0006.
    source = models.ForeignKey(StoredFile, null=True, on_delete=models.CASCADE, related_name="+")
    # Set by the job with made_at: imports.run()'s report.
    report = models.JSONField(default=dict, blank=True)

    class Meta(JobBatch.Meta):
        pass
