"""Vie scolaire: absences and lateness, their justification and validation.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import ClassGroup, Subject
from preau.ent.models import TenantModel

User = settings.AUTH_USER_MODEL


class Absence(TenantModel):
    class Kind(models.TextChoices):
        ABSENCE = "absence", "Absence"
        LATE = "late", "Retard"

    class Status(models.TextChoices):
        UNJUSTIFIED = "unjustified", "À justifier"
        SUBMITTED = "submitted", "Justificatif envoyé"
        ACCEPTED = "accepted", "Justifiée"
        REFUSED = "refused", "Justification refusée"

    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    class_group = models.ForeignKey(
        ClassGroup, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.ForeignKey(
        Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    date = models.DateField()
    start = models.TimeField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ABSENCE)
    minutes_late = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNJUSTIFIED)
    reason = models.TextField(blank=True)
    justified_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    justified_at = models.DateTimeField(null=True, blank=True)
    validated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    validated_at = models.DateTimeField(null=True, blank=True)
    # Why the vie scolaire refused the justification: shown to the family (issue #17).
    refusal_reason = models.TextField(blank=True, db_default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_absence"
        ordering = ["-date", "-start"]
        indexes = [
            models.Index(fields=["establishment", "student", "date"]),
            models.Index(fields=["establishment", "status", "date"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["student", "date", "start"], name="absence_one_per_lesson"
            )
        ]

    @property
    def needs_justification(self) -> bool:
        return self.status in (self.Status.UNJUSTIFIED, self.Status.REFUSED)

    @property
    def state(self) -> str:
        """The roll call's word for this row: "absent" or "late:<minutes>"."""
        return f"late:{self.minutes_late or 0}" if self.kind == self.Kind.LATE else "absent"


def state_label(state: str) -> str:
    """A roll call state ("present", "absent", "late:12") in French."""
    if state.startswith("late:"):
        return f"Retard ({state[5:]} min)"
    return {
        "absent": "Absent",
        "present": "Présent",
        "": "–",
        "exclusion": "Exclu du cours",
        "infirmary": "À l'infirmerie",
    }.get(state, state)


class AttendanceChange(TenantModel):
    """One change of a pupil's school-life record (roll call, exclusion, infirmary): who made
    it, when, and the state before and after, for the vie scolaire. Never edited nor deleted."""

    class What(models.TextChoices):
        ROLL_CALL = "roll_call", "Appel"
        EXCLUSION = "exclusion", "Exclusion de cours"
        INFIRMARY = "infirmary", "Passage à l'infirmerie"

    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    class_group = models.ForeignKey(
        ClassGroup, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    what = models.CharField(max_length=12, choices=What.choices, default=What.ROLL_CALL)
    date = models.DateField()
    start = models.TimeField()
    before = models.CharField(max_length=20)
    after = models.CharField(max_length=20)
    changed_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["establishment", "class_group", "date", "start"]),
            models.Index(fields=["establishment", "student", "date"]),
        ]

    @property
    def before_label(self) -> str:
        return state_label(self.before)

    @property
    def after_label(self) -> str:
        return state_label(self.after)


class RollCall(TenantModel):
    """A lesson's roll call was taken (even with everybody present): the vie scolaire's list of
    the day's lessons without one ("appels non faits") reads it."""

    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    date = models.DateField()
    start = models.TimeField()
    done_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    done_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["class_group", "date", "start"], name="rollcall_one_per_lesson"
            )
        ]


class Incident(TenantModel):
    """An exclusion from a lesson or a visit to the infirmary (issue #17): recorded by a teacher
    (exclusion, from their lesson) or the vie scolaire (both), kept in AttendanceChange too,
    shown to the vie scolaire on the day's page and to the family on the pupil's record."""

    class Kind(models.TextChoices):
        EXCLUSION = "exclusion", "Exclusion de cours"
        INFIRMARY = "infirmary", "Passage à l'infirmerie"

    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    class_group = models.ForeignKey(
        ClassGroup, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    date = models.DateField()
    start = models.TimeField()
    reason = models.TextField(blank=True)
    recorded_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "-start", "-id"]
        indexes = [
            models.Index(fields=["establishment", "student", "date"]),
            models.Index(fields=["establishment", "date"]),
        ]
